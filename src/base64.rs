//! Standard base64, decoded: Secrets' values (and Helm's release payloads within them), PowerShell's
//! `-EncodedCommand`. Windows has no `base64 --decode` for a user to do it by hand.

/// Standard base64 (with or without padding); None for anything else.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let sextet = |byte: u8| match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0);
    for byte in text.trim().bytes().filter(|b| *b != b'=') {
        let value = u32::from(sextet(byte)?);
        buffer = (buffer << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_decodes_and_rejects_garbage() {
        assert_eq!(super::decode("c2VjcmV0"), Some(b"secret".to_vec()));
        assert_eq!(super::decode("YQ=="), Some(b"a".to_vec()));
        assert_eq!(super::decode("!!"), None);
    }
}
