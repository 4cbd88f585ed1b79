//! Prints how the bytes of a cperf recording divide between samples and symbol data, for the record
//! benchmark (`bench/record.sh`): `cargo run -p sampler --example recording_stats -- FILE`.
//!
//! Output, one `key value` per line: `file_bytes`, `samples`, `sample_bytes` (SAMPLE, STACK and FRAME
//! entries, the chunk framing and the metadata), `symbol_bytes` (STR, MODULE, MODULE_STATUS, SYMBOLS,
//! PERF_MAP entries), `other_bytes` (processes, names, mappings, losses).

use std::io::BufReader;

use sampler::recording::chunk::{self, kind, ChunkReader};
use sampler::recording::codec::Decoder;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: recording_stats FILE");
        std::process::exit(2);
    };
    let file = std::fs::File::open(&path).unwrap_or_else(|e| {
        eprintln!("cannot open {path}: {e}");
        std::process::exit(2)
    });
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut input = BufReader::new(file);
    if let Err(e) = chunk::read_file_header(&mut input) {
        eprintln!("{path}: {e}");
        std::process::exit(2);
    }
    let mut chunks = ChunkReader::new(input, chunk::FILE_HEADER_LEN as u64, len);
    let (mut samples, mut sample_bytes, mut symbol_bytes, mut other_bytes) = (0u64, 0u64, 0u64, 0u64);
    sample_bytes += chunk::FILE_HEADER_LEN as u64;
    while let Ok(Some(c)) = chunks.next_chunk() {
        sample_bytes += chunk::CHUNK_HEADER_LEN as u64;
        if c.kind != kind::ENTRIES {
            sample_bytes += c.payload.len() as u64;
            continue;
        }
        let mut d = Decoder::new(&c.payload);
        while !d.is_empty() {
            let (Ok(tag), Ok(body)) = (d.u64(), d.bytes()) else { break };
            let size = (body.len() + 1 + varint_len(body.len() as u64)) as u64;
            match tag {
                11 => {
                    samples += 1;
                    sample_bytes += size;
                }
                9 | 10 => sample_bytes += size,
                1 | 6 | 7 | 12 | 13 => symbol_bytes += size,
                _ => other_bytes += size,
            }
        }
    }
    println!("file_bytes {len}");
    println!("samples {samples}");
    println!("sample_bytes {sample_bytes}");
    println!("symbol_bytes {symbol_bytes}");
    println!("other_bytes {other_bytes}");
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}
