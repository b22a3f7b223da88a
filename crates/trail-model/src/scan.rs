//! A validating single-pass reader of the top-level members of one JSON object: the fast path
//! that [`crate::parse_event`] takes for every event document it ingests.
//!
//! serde_json stays the reference. This reader either yields exactly the members serde_json
//! would (each value as its raw text, whitespace around it excluded) or gives up, and the caller
//! then asks serde_json, whose answer and error message are the ones used. Giving up is always
//! safe, so the reader gives up on what it need not be fast on: any error, escaped keys at the
//! top level, `\u` escapes of surrogates, nesting deeper than [`MAX_DEPTH`].
//!
//! The grammar is RFC 8259's as serde_json applies it: whitespace is space, tab, CR and LF;
//! numbers have no leading zeros and need a digit after `.` and after the exponent mark; strings
//! hold no raw control characters; only whitespace may follow the object.

/// Containers nested deeper than this make the reader give up (serde_json allows 128).
const MAX_DEPTH: usize = 64;

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Calls `member(key, raw_value, escaped)` for each top-level member of the object `doc`, in
/// document order; `escaped` says whether the value is a string holding an escape (false for
/// any other value). Returns `None` when the reader gives up (see the module docs) or when
/// `member` returns false; the caller then falls back to serde_json.
pub(crate) fn for_each_member<'a>(
    doc: &'a str,
    mut member: impl FnMut(&'a str, &'a str, bool) -> bool,
) -> Option<()> {
    let mut c = Cursor {
        b: doc.as_bytes(),
        i: 0,
    };
    c.whitespace();
    c.expect(b'{')?;
    c.whitespace();
    if c.peek() == Some(b'}') {
        c.i += 1;
    } else {
        loop {
            c.expect(b'"')?;
            let key_start = c.i;
            if c.string_body()? {
                return None;
            }
            let key = doc.get(key_start..c.i - 1)?;
            c.whitespace();
            c.expect(b':')?;
            c.whitespace();
            let value_start = c.i;
            let escaped = if c.peek() == Some(b'"') {
                c.i += 1;
                c.string_body()?
            } else {
                c.value(1)?;
                false
            };
            if !member(key, doc.get(value_start..c.i)?, escaped) {
                return None;
            }
            c.whitespace();
            match c.next()? {
                b',' => c.whitespace(),
                b'}' => break,
                _ => return None,
            }
        }
    }
    c.whitespace();
    (c.i == c.b.len()).then_some(())
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn expect(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    fn whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
    }

    /// One value of any kind, starting at the cursor; `depth` counts the containers around it.
    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => {
                self.i += 1;
                self.string_body().map(drop)
            }
            b'{' => {
                self.i += 1;
                self.object_rest(depth)
            }
            b'[' => {
                self.i += 1;
                self.array_rest(depth)
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.next()? {
            b'0' => {
                if let Some(b'0'..=b'9') = self.peek() {
                    return None;
                }
            }
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !self.next()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if !self.next()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        Some(())
    }

    /// The rest of an object whose `{` was read.
    fn object_rest(&mut self, depth: usize) -> Option<()> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.whitespace();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Some(());
        }
        loop {
            self.expect(b'"')?;
            self.string_body()?;
            self.whitespace();
            self.expect(b':')?;
            self.whitespace();
            self.value(depth + 1)?;
            self.whitespace();
            match self.next()? {
                b',' => self.whitespace(),
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// The rest of an array whose `[` was read.
    fn array_rest(&mut self, depth: usize) -> Option<()> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.whitespace();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Some(());
        }
        loop {
            self.value(depth + 1)?;
            self.whitespace();
            match self.next()? {
                b',' => self.whitespace(),
                b']' => return Some(()),
                _ => return None,
            }
        }
    }

    /// The rest of a string whose opening quote was read, up to and including its closing
    /// quote. Returns whether it held an escape.
    fn string_body(&mut self) -> Option<bool> {
        let mut escaped = false;
        loop {
            // Eight bytes at a time up to the first quote, backslash or control character.
            while let Some(chunk) = self.b.get(self.i..self.i + 8) {
                let word = u64::from_le_bytes(chunk.try_into().ok()?);
                let special = special_bytes(word);
                if special != 0 {
                    self.i += (special.trailing_zeros() / 8) as usize;
                    break;
                }
                self.i += 8;
            }
            match self.next()? {
                b'"' => return Some(escaped),
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                0..=0x1f => return None,
                _ => {}
            }
        }
    }

    /// The rest of an escape whose backslash was read.
    fn escape(&mut self) -> Option<()> {
        match self.next()? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(()),
            b'u' => {
                let hex = self.b.get(self.i..self.i + 4)?;
                let mut code = 0u32;
                for &digit in hex {
                    code = code * 16 + char::from(digit).to_digit(16)?;
                }
                self.i += 4;
                // Surrogates (paired or lone) are left to serde_json.
                (!(0xD800..=0xDFFF).contains(&code)).then_some(())
            }
            _ => None,
        }
    }
}

/// A mask whose lowest set bit marks the first byte of `word` (little-endian) that is `"`, `\`
/// or below 0x20. Bits above the lowest may be spurious (borrows), so only the lowest is used.
fn special_bytes(word: u64) -> u64 {
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let quote = zero_byte(word ^ (ONES * u64::from(b'"')));
    let backslash = zero_byte(word ^ (ONES * u64::from(b'\\')));
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    quote | backslash | control
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(doc: &str) -> Option<Vec<(&str, &str)>> {
        let mut out = Vec::new();
        for_each_member(doc, |k, v, escaped| {
            assert_eq!(escaped, v.starts_with('"') && v.contains('\\'), "{v}");
            out.push((k, v));
            true
        })?;
        Some(out)
    }

    #[test]
    fn members_come_back_as_raw_text_in_document_order() {
        let doc = " {\"a\" : [1, {\"x\": -0.5e+3}] ,\"b\":\"q\\\"\\u00e9\",\"c\":null,\"d\":{} }\n";
        assert_eq!(
            members(doc),
            Some(vec![
                ("a", "[1, {\"x\": -0.5e+3}]"),
                ("b", "\"q\\\"\\u00e9\""),
                ("c", "null"),
                ("d", "{}"),
            ])
        );
        assert_eq!(members("{}"), Some(vec![]));
    }

    #[test]
    fn the_reader_gives_up_on_what_serde_json_must_judge() {
        for doc in [
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":1e}",
            "{\"a\":-}",
            "{\"a\":tru}",
            "{\"a\":\"\u{1}\"}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\ud800\"}",
            "{\"\\u0061\":1}",
            "{\"a\":1,}",
            "{\"a\":1} x",
            "{\"a\":[1,]}",
            "{\"a\" 1}",
            "[1]",
            "{\"a\":\"unterminated}",
        ] {
            assert_eq!(members(doc), None, "{doc}");
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(70), "]".repeat(70));
        assert_eq!(members(&deep), None);
    }

    #[test]
    fn special_bytes_finds_the_first_quote_backslash_or_control_byte() {
        for (i, b) in [(0usize, b'"'), (3, b'\\'), (7, 0x1f), (5, 0)] {
            let mut word = *b"abcdefgh";
            word[i] = b;
            let mask = special_bytes(u64::from_le_bytes(word));
            assert_eq!(mask.trailing_zeros() / 8, i as u32);
        }
        assert_eq!(
            special_bytes(u64::from_le_bytes(*b"\xc3\xa9 ~\x7f\x80\xff!")),
            0
        );
    }
}
