//! Decompressing a compressed ELF section (`SHF_COMPRESSED` zlib or zstd, GNU `.zdebug_*` zlib) to
//! exactly the size its header claims and was charged for, never more: a stream that would inflate
//! further is refused partway. (`object`'s own zstd path reads a stream to its end, whatever the
//! header says.)

use std::io::Read;

use object::{CompressedData, CompressionFormat};

/// How much is inflated between two looks at `stop`.
const CHUNK: usize = 4 << 20;

/// The section's bytes, decompressed; `None` when they are not valid, do not decompress to the
/// size claimed, or `stop` said so (it is asked before every [`CHUNK`] inflated, so that a
/// deadline passed meanwhile ends the work within one chunk).
pub(crate) fn inflate(compressed: &CompressedData<'_>, stop: &dyn Fn() -> bool) -> Option<Vec<u8>> {
    let size = usize::try_from(compressed.uncompressed_size).ok()?;
    let mut out = Vec::new();
    out.try_reserve_exact(size).ok()?;
    match compressed.format {
        CompressionFormat::None => out.extend_from_slice(compressed.data),
        CompressionFormat::Zlib => {
            let mut zlib = flate2::Decompress::new(true);
            let mut buf = vec![0u8; CHUNK.min(size + 1)];
            loop {
                if stop() {
                    return None;
                }
                let (read, written) = (zlib.total_in(), zlib.total_out());
                let input = compressed.data.get(usize::try_from(read).ok()?..)?;
                let status = zlib.decompress(input, &mut buf, flate2::FlushDecompress::None).ok()?;
                let produced = usize::try_from(zlib.total_out() - written).ok()?;
                // Never more than claimed: the stream must end there.
                if out.len() + produced > size {
                    return None;
                }
                out.extend_from_slice(&buf[..produced]);
                if status == flate2::Status::StreamEnd {
                    break;
                }
                if produced == 0 && zlib.total_in() == read {
                    return None; // truncated: no progress
                }
            }
        }
        CompressionFormat::Zstandard => {
            let mut input = compressed.data;
            let mut buf = vec![0u8; CHUNK.min(size + 1)];
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
                let mut frame = decoder.take(room + 1);
                loop {
                    if stop() {
                        return None;
                    }
                    let n = frame.read(&mut buf).ok()?;
                    if n == 0 {
                        break;
                    }
                    out.extend_from_slice(&buf[..n]);
                }
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
        let go = || false;
        assert_eq!(inflate(&claim(100_000), &go).as_deref(), Some(&data[..]));
        assert_eq!(inflate(&claim(1000), &go), None, "more than claimed");
        assert_eq!(inflate(&claim(200_000), &go), None, "less than claimed");
        assert_eq!(
            inflate(&CompressedData { data: &z[..z.len() / 2], ..claim(100_000) }, &go),
            None,
            "truncated"
        );
        let garbage =
            CompressedData { format: CompressionFormat::Zstandard, data: b"not zstd", uncompressed_size: 10 };
        assert_eq!(inflate(&garbage, &go), None);
    }

    /// `stop` is asked before each chunk: a large stream stops within one chunk of being told to.
    #[test]
    fn inflating_stops_when_told() {
        let data = vec![0u8; 3 * CHUNK];
        let z = zlib(&data);
        let claim = CompressedData {
            format: CompressionFormat::Zlib,
            data: &z,
            uncompressed_size: data.len() as u64,
        };
        let asked = std::cell::Cell::new(0);
        let stop_at_second = || {
            asked.set(asked.get() + 1);
            asked.get() > 1
        };
        assert_eq!(inflate(&claim, &stop_at_second), None);
        assert_eq!(asked.get(), 2);
        assert_eq!(inflate(&claim, &|| false).map(|v| v.len()), Some(data.len()));
        let mut zstd = Vec::new();
        ruzstd::encoding::compress(&data[..], &mut zstd, ruzstd::encoding::CompressionLevel::Fastest);
        let claim = CompressedData { format: CompressionFormat::Zstandard, data: &zstd, ..claim };
        asked.set(0);
        assert_eq!(inflate(&claim, &stop_at_second), None);
        assert_eq!(inflate(&claim, &|| false).map(|v| v.len()), Some(data.len()));
    }
}
