//! Little-endian bit vectors in `u64` words: how the simulation side of every block stores buses.

pub use compiler::dataflow::width::{bit, get, mask, sbits, set, sext, ubits, words};

/// Hex digits of the low `bits` bits of `w`, most significant first (a `$readmemh` word).
pub fn hex(w: &[u64], bits: usize) -> String {
    let digits = bits.div_ceil(4).max(1);
    (0..digits)
        .rev()
        .map(|d| char::from_digit(get(w, d * 4, 4.min(bits - d * 4)) as u32, 16).unwrap_or('0'))
        .collect()
}

/// Parses a `hex` word of `bits` bits.
pub fn parse_hex(s: &str, bits: usize) -> Option<Vec<u64>> {
    let mut w = vec![0; words(bits)];
    for (d, c) in s.chars().rev().enumerate() {
        let v = u64::from(c.to_digit(16)?);
        if d * 4 >= bits {
            if v != 0 {
                return None;
            }
            continue;
        }
        set(&mut w, d * 4, 4.min(bits - d * 4), v);
        if v >> 4.min(bits - d * 4) != 0 {
            return None;
        }
    }
    Some(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_set_across_words() {
        let mut w = vec![0u64; 3];
        set(&mut w, 60, 10, 0x2ab);
        assert_eq!(get(&w, 60, 10), 0x2ab);
        assert_eq!(get(&w, 64, 6), 0x2ab >> 4);
        assert!(bit(&w, 60) && !bit(&w, 62));
    }

    #[test]
    fn hex_round_trip() {
        let w = vec![0xdead_beef_0123_4567, 0x5];
        assert_eq!(hex(&w, 67), "5deadbeef01234567");
        assert_eq!(parse_hex("5deadbeef01234567", 67), Some(w));
        assert_eq!(hex(&[1], 1), "1");
        assert_eq!(parse_hex("2", 1), None);
    }
}
