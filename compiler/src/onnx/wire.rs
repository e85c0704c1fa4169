//! A walk over the protobuf wire format of an ONNX file that bounds what decoding it allocates.
//!
//! prost decodes a length-delimited field only after checking its length against the bytes left,
//! so no single field allocates more than the file holds. But an empty submessage costs two bytes
//! in the file and a whole struct in memory (an `AttributeProto` inlines a tensor, a graph and a
//! type: over a kilobyte), so a 100 MiB file of empty attributes would decode into gigabytes.
//! This walk follows the schema of onnx.proto (`proto_schema`, generated from the vendored file),
//! counts submessages and strings, and refuses a file above [`MAX_MESSAGES`] or [`MAX_STRINGS`]
//! or nested deeper than [`MAX_DEPTH`] before prost sees it. It also rejects truncated fields and
//! invalid wire types with the byte offset, so decode errors come with a place.

use super::proto_schema::{MESSAGES, MODEL_PROTO};

/// What a field of a message is, as far as the walk needs to know.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    /// A singular number.
    Scalar,
    /// A repeated number (packed or not).
    RepeatedScalar,
    /// A string or bytes field.
    Bytes,
    /// A submessage: index into `MESSAGES`.
    Message(usize),
}

/// Most submessages an ONNX file may hold (nodes, attributes, tensors, value infos, dimensions,
/// ...). A 1,000-layer network has a few tens of thousands; this bounds decoding at about 1 GiB
/// even if every one were the largest struct.
pub const MAX_MESSAGES: u64 = 500_000;

/// Most strings and byte fields (tensor names, node inputs and outputs, raw tensor data).
pub const MAX_STRINGS: u64 = 4_000_000;

/// Deepest nesting of submessages (prost's own recursion limit is 100).
pub const MAX_DEPTH: usize = 64;

/// Why the walk refused a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The bytes are not a well-formed protobuf message.
    #[error("not a valid ONNX protobuf file at byte {offset}: {what}")]
    Malformed {
        /// Byte offset of the offending field.
        offset: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// Too many submessages, strings or levels.
    #[error("the ONNX file holds more {what} than the limit of {limit} (compiler::onnx::wire::MAX_{name})")]
    TooLarge {
        /// What was counted.
        what: &'static str,
        /// The limit.
        limit: u64,
        /// The constant's suffix.
        name: &'static str,
    },
}

/// Submessages and strings counted so far.
#[derive(Default)]
struct Counts {
    messages: u64,
    strings: u64,
}

/// Checks that `buf` is a well-formed `ModelProto` within the limits.
pub fn check(buf: &[u8]) -> Result<(), WireError> {
    walk(buf, 0, MODEL_PROTO, 0, &mut Counts::default())
}

fn varint(buf: &[u8], pos: &mut usize, base: usize) -> Result<u64, WireError> {
    let mut v = 0u64;
    for shift in (0..70).step_by(7) {
        let Some(&b) = buf.get(*pos) else {
            return Err(WireError::Malformed { offset: base + *pos, what: "truncated varint" });
        };
        *pos += 1;
        if shift == 63 && b > 1 {
            break;
        }
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(WireError::Malformed { offset: base + *pos, what: "varint longer than 64 bits" })
}

fn walk(buf: &[u8], base: usize, msg: usize, depth: usize, n: &mut Counts) -> Result<(), WireError> {
    if depth > MAX_DEPTH {
        return Err(WireError::TooLarge {
            what: "levels of nesting",
            limit: MAX_DEPTH as u64,
            name: "DEPTH",
        });
    }
    let fields = MESSAGES.get(msg).map_or(&[][..], |m| m.1);
    let mut pos = 0;
    while pos < buf.len() {
        let start = pos;
        let key = varint(buf, &mut pos, base)?;
        let (number, wire) = (key >> 3, key & 7);
        if number == 0 {
            return Err(WireError::Malformed { offset: base + start, what: "field number 0" });
        }
        let kind = fields.iter().find(|f| u64::from(f.0) == number).map(|f| f.1);
        match wire {
            0 => {
                varint(buf, &mut pos, base)?;
            }
            1 | 5 => {
                let len = if wire == 1 { 8 } else { 4 };
                if buf.len() - pos < len {
                    return Err(WireError::Malformed {
                        offset: base + start,
                        what: "truncated fixed-width field",
                    });
                }
                pos += len;
            }
            2 => {
                let len = varint(buf, &mut pos, base)?;
                if len > (buf.len() - pos) as u64 {
                    return Err(WireError::Malformed {
                        offset: base + start,
                        what: "length-delimited field longer than the bytes left",
                    });
                }
                let body = &buf[pos..pos + len as usize];
                match kind {
                    Some(Field::Message(m)) => {
                        n.messages += 1;
                        if n.messages > MAX_MESSAGES {
                            return Err(WireError::TooLarge {
                                what: "submessages",
                                limit: MAX_MESSAGES,
                                name: "MESSAGES",
                            });
                        }
                        walk(body, base + pos, m, depth + 1, n)?;
                    }
                    Some(Field::Bytes) => {
                        n.strings += 1;
                        if n.strings > MAX_STRINGS {
                            return Err(WireError::TooLarge {
                                what: "strings",
                                limit: MAX_STRINGS,
                                name: "STRINGS",
                            });
                        }
                    }
                    // Packed numbers decode to at most one value per byte; unknown fields are skipped.
                    _ => {}
                }
                pos += len as usize;
            }
            _ => {
                return Err(WireError::Malformed {
                    offset: base + start,
                    what: "unsupported wire type (groups or >5)",
                })
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint_bytes(mut k: u64) -> Vec<u8> {
        let mut v = Vec::new();
        loop {
            let b = (k & 0x7f) as u8;
            k >>= 7;
            if k == 0 {
                v.push(b);
                return v;
            }
            v.push(b | 0x80);
        }
    }

    /// A length-delimited field `number` holding `body`.
    fn field(number: u64, body: &[u8]) -> Vec<u8> {
        [varint_bytes(number << 3 | 2), varint_bytes(body.len() as u64), body.to_vec()].concat()
    }

    #[test]
    fn empty_and_scalar_models_pass() {
        assert_eq!(check(&[]), Ok(()));
        assert_eq!(check(&[0x08, 7]), Ok(())); // ir_version 7
    }

    #[test]
    fn truncated_fields_are_refused_with_their_offset() {
        // ir_version 7, then a graph announcing 10 bytes that are not there.
        let b = [0x08, 7, 7 << 3 | 2, 10];
        assert!(matches!(check(&b), Err(WireError::Malformed { offset: 2, .. })), "{:?}", check(&b));
        assert!(matches!(check(&[0x08, 0x80]), Err(WireError::Malformed { .. })));
        assert!(matches!(check(&[3 << 3 | 3]), Err(WireError::Malformed { .. })));
        assert!(matches!(check(&[0x00, 0x00]), Err(WireError::Malformed { what: "field number 0", .. })));
    }

    #[test]
    fn floods_of_empty_submessages_are_refused() {
        // One graph holding MAX_MESSAGES empty nodes (2 bytes each).
        let nodes = field(1, &[]).repeat(MAX_MESSAGES as usize);
        assert_eq!(
            check(&field(7, &nodes)),
            Err(WireError::TooLarge { what: "submessages", limit: MAX_MESSAGES, name: "MESSAGES" })
        );
        // One fewer fits (the graph itself is a submessage too).
        assert_eq!(check(&field(7, &nodes[2..])), Ok(()));
    }

    #[test]
    fn deep_nesting_is_refused() {
        // graph.node.attribute.g.node.attribute.g ... : three levels per round.
        let nest = |rounds: usize| {
            let mut inner = Vec::new();
            for _ in 0..rounds {
                inner = field(1, &field(5, &field(6, &inner))); // node > attribute > g
            }
            field(7, &inner)
        };
        assert_eq!(check(&nest(MAX_DEPTH / 3 - 1)), Ok(()));
        assert!(matches!(check(&nest(MAX_DEPTH / 3 + 1)), Err(WireError::TooLarge { name: "DEPTH", .. })));
    }
}
