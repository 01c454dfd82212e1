//! The Kafka record compression codecs, for compaction, which must open compressed batches to
//! drop superseded records: 1 gzip, 2 snappy (xerial framing as the Java client writes it; raw
//! blocks are also read), 3 lz4 (frame format), 4 zstd.

use std::io::{Read, Write};

use crate::error::BatchError;

/// Largest decompressed records section compaction will hold in memory; a batch that inflates
/// beyond it is kept whole instead.
pub(crate) const DECOMPRESSED_MAX_BYTES: usize = 64 << 20;

const SNAPPY_XERIAL_HEADER: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";
const SNAPPY_BLOCK_BYTES: usize = 32 << 10;

fn read_bounded(mut r: impl Read) -> Result<Vec<u8>, BatchError> {
    let mut out = Vec::new();
    r.by_ref()
        .take(DECOMPRESSED_MAX_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| BatchError::BadRecord("cannot decompress records"))?;
    if out.len() > DECOMPRESSED_MAX_BYTES {
        return Err(BatchError::BadRecord("decompressed records exceed the limit"));
    }
    Ok(out)
}

fn snappy_block(block: &[u8], budget: usize, out: &mut Vec<u8>) -> Result<(), BatchError> {
    let len = snap::raw::decompress_len(block).map_err(|_| BatchError::BadRecord("bad snappy block"))?;
    if len > budget {
        return Err(BatchError::BadRecord("decompressed records exceed the limit"));
    }
    let start = out.len();
    out.resize(start + len, 0);
    snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|_| BatchError::BadRecord("bad snappy block"))?;
    Ok(())
}

/// Decompresses a records section compressed with `codec`.
pub(crate) fn decompress(codec: u8, data: &[u8]) -> Result<Vec<u8>, BatchError> {
    match codec {
        0 => Ok(data.to_vec()),
        1 => read_bounded(flate2::read::GzDecoder::new(data)),
        2 => {
            let mut out = Vec::new();
            let Some(mut rest) = data.strip_prefix(&SNAPPY_XERIAL_HEADER[..]) else {
                snappy_block(data, DECOMPRESSED_MAX_BYTES, &mut out)?;
                return Ok(out);
            };
            while !rest.is_empty() {
                let (len, tail) =
                    rest.split_first_chunk::<4>().ok_or(BatchError::BadRecord("bad snappy frame"))?;
                let len = u32::from_be_bytes(*len) as usize;
                let block = tail.get(..len).ok_or(BatchError::BadRecord("bad snappy frame"))?;
                snappy_block(block, DECOMPRESSED_MAX_BYTES - out.len(), &mut out)?;
                rest = &tail[len..];
            }
            Ok(out)
        }
        3 => {
            let decoder = lz4::Decoder::new(data).map_err(|_| BatchError::BadRecord("bad lz4 frame"))?;
            read_bounded(decoder)
        }
        4 => {
            let decoder = zstd::stream::read::Decoder::new(data)
                .map_err(|_| BatchError::BadRecord("bad zstd frame"))?;
            read_bounded(decoder)
        }
        other => Err(BatchError::Compressed(other)),
    }
}

/// Compresses a records section with `codec`, as a Kafka client would.
pub(crate) fn compress(codec: u8, data: &[u8]) -> Result<Vec<u8>, BatchError> {
    let failed = |_| BatchError::BadRecord("cannot compress records");
    match codec {
        0 => Ok(data.to_vec()),
        1 => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(data).map_err(failed)?;
            enc.finish().map_err(failed)
        }
        2 => {
            let mut out = SNAPPY_XERIAL_HEADER.to_vec();
            let mut encoder = snap::raw::Encoder::new();
            for chunk in data.chunks(SNAPPY_BLOCK_BYTES) {
                let block = encoder.compress_vec(chunk).map_err(|_| BatchError::BadRecord("snappy"))?;
                out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            Ok(out)
        }
        3 => {
            let mut enc = lz4::EncoderBuilder::new().build(Vec::new()).map_err(failed)?;
            enc.write_all(data).map_err(failed)?;
            let (out, result) = enc.finish();
            result.map_err(failed)?;
            Ok(out)
        }
        4 => zstd::stream::encode_all(data, 3).map_err(failed),
        other => Err(BatchError::Compressed(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_round_trips() {
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| (i % 251).to_be_bytes()).collect();
        for codec in 0..=4 {
            let packed = compress(codec, &data).expect("compress");
            assert_eq!(decompress(codec, &packed).expect("decompress"), data, "codec {codec}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for codec in 1..=5 {
            assert!(
                decompress(codec, b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01\xff\xff\xff\xff").is_err()
            );
        }
    }
}
