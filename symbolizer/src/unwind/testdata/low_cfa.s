# Test input of symbolizer::unwind: a function whose CFA is rbp + 4 (no rule for rbp), which the
# unwinder evaluates outside its rule cache: with rbp = 0 the CFA is 4 and the return address
# would be read at 4 - 8.
	.text
	.globl	low_cfa
	.type	low_cfa, @function
low_cfa:
	.cfi_startproc
	.cfi_def_cfa %rbp, 4
	nop
	ret
	.cfi_endproc
	.size	low_cfa, .-low_cfa
	.globl	main
	.type	main, @function
main:
	.cfi_startproc
	call	low_cfa
	xor	%eax, %eax
	ret
	.cfi_endproc
	.size	main, .-main
	.section	.note.GNU-stack,"",@progbits
