# Test input of symbolizer::unwind: a function whose CFA is a DWARF expression that branches to
# itself (DW_OP_skip -3) forever: an unwinder evaluating it without a limit would hang.
	.text
	.globl	loop_cfa
	.type	loop_cfa, @function
loop_cfa:
	.cfi_startproc
	.cfi_escape 0x0f, 3, 0x2f, 0xfd, 0xff
	nop
	ret
	.cfi_endproc
	.size	loop_cfa, .-loop_cfa
	.globl	main
	.type	main, @function
main:
	.cfi_startproc
	call	loop_cfa
	xor	%eax, %eax
	ret
	.cfi_endproc
	.size	main, .-main
	.section	.note.GNU-stack,"",@progbits
