//! How values appear in messages: numbers in their shortest exact form, compact at any magnitude (1e308
//! is `1e308`, not 309 digits), and text from a user's file cut to a readable length.

/// `x` as the shortest text that parses back to the same f64, in scientific notation when plain digits
/// would be long: `0.001`, `12.5`, `1e-7`, `3.4028234663852886e38`.
pub fn number(x: f64) -> String {
    let plain = format!("{x}");
    let sci = format!("{x:e}");
    if plain.len() > sci.len() + 2 { sci } else { plain }
}

/// The longest excerpt of a user's text a message quotes.
pub const MAX_QUOTE: usize = 60;

/// `text` as a message quotes it: whole when short, else its first characters and how long it was.
pub fn quote(text: &str) -> String {
    match text.char_indices().nth(MAX_QUOTE) {
        None => text.to_string(),
        Some((end, _)) => format!("{}… ({} characters)", &text[..end], text.chars().count()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short_and_exact() {
        assert_eq!(number(1e308), "1e308");
        assert_eq!(number(0.001), "0.001");
        assert_eq!(number(1e-30), "1e-30");
        assert_eq!(number(12.5), "12.5");
        assert_eq!(number(-2.0), "-2");
        for x in [1e308, 1e-30, 0.1 + 0.2, f64::MIN_POSITIVE, 3.4028234663852886e38] {
            assert_eq!(number(x).parse::<f64>().unwrap(), x);
        }
    }

    #[test]
    fn long_text_is_cut() {
        assert_eq!(quote("abc"), "abc");
        let long = "x".repeat(1000);
        let q = quote(&long);
        assert!(q.chars().count() < 90 && q.ends_with("(1000 characters)"), "{q}");
    }
}
