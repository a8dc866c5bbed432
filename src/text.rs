//! Text positions: byte offsets to 1-based line and column ([`LineIndex`]), and where invalid
//! UTF-8 starts ([`utf8_error_position`]), for messages of the form `file:line:column`. Used
//! by the configuration, the HCL model and scenarios. A leaf: it imports nothing from the crate.

/// Byte offset to 1-based line and column (columns count characters).
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    /// The text being indexed.
    pub fn text(&self) -> &'a str {
        self.text
    }

    pub fn position(&self, offset: usize) -> (usize, usize) {
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.starts[line];
        let end = offset.min(self.text.len());
        let col = self
            .text
            .get(start..end)
            .map(|s| s.chars().count())
            .unwrap_or(end - start);
        (line + 1, col + 1)
    }
}

/// The 1-based line and column of the first byte that is not UTF-8.
pub fn utf8_error_position(e: &std::string::FromUtf8Error) -> (usize, usize) {
    let off = e.utf8_error().valid_up_to();
    let lossy = String::from_utf8_lossy(e.as_bytes());
    LineIndex::new(&lossy).position(off)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let t = "ab\nçd\n\nx";
        let l = LineIndex::new(t);
        assert_eq!(l.position(0), (1, 1));
        assert_eq!(l.position(2), (1, 3));
        assert_eq!(l.position(3), (2, 1));
        // 'ç' is two bytes, one column.
        assert_eq!(l.position(5), (2, 2));
        assert_eq!(l.position(7), (3, 1));
        assert_eq!(l.position(8), (4, 1));
        assert_eq!(l.position(100), (4, 2));
    }

    #[test]
    fn invalid_utf8_is_located() {
        let e = String::from_utf8(b"ok\nab\xffc".to_vec()).unwrap_err();
        assert_eq!(utf8_error_position(&e), (2, 3));
    }
}
