//! RecordIO, the framing of the v1 API event streams: each record is its
//! length in decimal ASCII, a `\n`, then that many bytes.
//!
//! ```
//! use mesos::wire::recordio::{encode, Decoder};
//! let mut stream = encode(b"hello");
//! stream.extend(encode(b"{}"));
//! let mut decoder = Decoder::new(1024);
//! let records = decoder.feed(&stream).unwrap();
//! assert_eq!(records, vec![b"hello".to_vec(), b"{}".to_vec()]);
//! ```

/// Why a RecordIO stream cannot be read further.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordIoError {
    /// The length header is not a decimal number.
    #[error("invalid RecordIO length header {0:?}")]
    BadHeader(String),
    /// A record is larger than the decoder allows.
    #[error("RecordIO record of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// The announced size.
        size: usize,
        /// The decoder's limit.
        limit: usize,
    },
}

/// Frames one record.
pub fn encode(record: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(record.len() + 12);
    out.extend_from_slice(record.len().to_string().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(record);
    out
}

/// Incremental decoder: feed it bytes as they arrive, get whole records.
#[derive(Debug)]
pub struct Decoder {
    /// Bytes received but not yet part of a whole record.
    buffer: Vec<u8>,
    /// Largest record accepted, so a hostile peer cannot make us buffer
    /// without bound.
    limit: usize,
}

/// Longest length header accepted: enough digits for any `usize`.
const MAX_HEADER: usize = 20;

impl Decoder {
    /// A decoder that refuses records larger than `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Decoder {
            buffer: Vec::new(),
            limit,
        }
    }

    /// Appends `bytes` and returns every record now complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, RecordIoError> {
        self.buffer.extend_from_slice(bytes);
        let mut records = Vec::new();
        let mut start = 0;
        loop {
            let rest = &self.buffer[start..];
            let Some(newline) = rest.iter().take(MAX_HEADER + 1).position(|&b| b == b'\n') else {
                if rest.len() > MAX_HEADER {
                    return Err(RecordIoError::BadHeader(
                        String::from_utf8_lossy(&rest[..MAX_HEADER]).into_owned(),
                    ));
                }
                break;
            };
            let header = &rest[..newline];
            let size = std::str::from_utf8(header)
                .ok()
                .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|h| h.parse::<usize>().ok())
                .ok_or_else(|| {
                    RecordIoError::BadHeader(String::from_utf8_lossy(header).into_owned())
                })?;
            if size > self.limit {
                return Err(RecordIoError::TooLarge {
                    size,
                    limit: self.limit,
                });
            }
            let body = newline + 1;
            if rest.len() < body + size {
                break;
            }
            records.push(rest[body..body + size].to_vec());
            start += body + size;
        }
        self.buffer.drain(..start);
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_across_arbitrary_splits() {
        let mut stream = Vec::new();
        for record in [&b"a"[..], b"", b"0123456789abcdef", b"\n\n"] {
            stream.extend(encode(record));
        }
        for split in 0..stream.len() {
            let mut decoder = Decoder::new(64);
            let mut records = decoder.feed(&stream[..split]).unwrap();
            records.extend(decoder.feed(&stream[split..]).unwrap());
            assert_eq!(
                records,
                vec![
                    b"a".to_vec(),
                    vec![],
                    b"0123456789abcdef".to_vec(),
                    b"\n\n".to_vec()
                ]
            );
        }
    }

    #[test]
    fn rejects_bad_headers_and_oversized_records() {
        assert!(matches!(
            Decoder::new(8).feed(b"x\n"),
            Err(RecordIoError::BadHeader(_))
        ));
        assert!(matches!(
            Decoder::new(8).feed(b"-1\n"),
            Err(RecordIoError::BadHeader(_))
        ));
        assert!(matches!(
            Decoder::new(8).feed(b"\n"),
            Err(RecordIoError::BadHeader(_))
        ));
        assert!(matches!(
            Decoder::new(8).feed(&[b'1'; 40]),
            Err(RecordIoError::BadHeader(_))
        ));
        assert_eq!(
            Decoder::new(8).feed(b"9\n"),
            Err(RecordIoError::TooLarge { size: 9, limit: 8 })
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_garbage(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = Decoder::new(16).feed(&bytes);
        }
    }
}
