//! Decompressing a compressed ELF section (`SHF_COMPRESSED` zlib or zstd, GNU `.zdebug_*` zlib) to
//! exactly the size its header claims and was charged for, never more: a stream that would inflate
//! further is refused partway. (`object`'s own zstd path reads a stream to its end, whatever the
//! header says.)

use std::io::Read;

use object::{CompressedData, CompressionFormat};

/// The section's bytes, decompressed; `None` when they are not valid, or do not decompress to the
/// size claimed.
pub(crate) fn inflate(compressed: &CompressedData<'_>) -> Option<Vec<u8>> {
    let size = usize::try_from(compressed.uncompressed_size).ok()?;
    let mut out = Vec::new();
    out.try_reserve_exact(size).ok()?;
    match compressed.format {
        CompressionFormat::None => out.extend_from_slice(compressed.data),
        CompressionFormat::Zlib => {
            // Writes into the capacity only: at most `size` bytes; the stream must end there.
            let status = flate2::Decompress::new(true)
                .decompress_vec(compressed.data, &mut out, flate2::FlushDecompress::Finish)
                .ok()?;
            if status != flate2::Status::StreamEnd {
                return None;
            }
        }
        CompressionFormat::Zstandard => {
            let mut input = compressed.data;
            while !input.is_empty() {
                let decoder = match ruzstd::decoding::StreamingDecoder::new(&mut input) {
                    Ok(decoder) => decoder,
                    Err(ruzstd::decoding::errors::FrameDecoderError::ReadFrameHeaderError(
                        ruzstd::decoding::errors::ReadFrameHeaderError::SkipFrame { length, .. },
                    )) => {
                        input = input.get(usize::try_from(length).ok()?..)?;
                        continue;
                    }
                    Err(_) => return None,
                };
                let room = (size - out.len()) as u64;
                decoder.take(room + 1).read_to_end(&mut out).ok()?;
                if out.len() > size {
                    return None;
                }
            }
        }
        _ => return None,
    }
    (out.len() == size).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut e, data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn streams_inflate_to_the_size_claimed_and_no_further() {
        let data = vec![7u8; 100_000];
        let z = zlib(&data);
        let claim =
            |size: u64| CompressedData { format: CompressionFormat::Zlib, data: &z, uncompressed_size: size };
        assert_eq!(inflate(&claim(100_000)).as_deref(), Some(&data[..]));
        assert_eq!(inflate(&claim(1000)), None, "more than claimed");
        assert_eq!(inflate(&claim(200_000)), None, "less than claimed");
        let garbage =
            CompressedData { format: CompressionFormat::Zstandard, data: b"not zstd", uncompressed_size: 10 };
        assert_eq!(inflate(&garbage), None);
    }
}
