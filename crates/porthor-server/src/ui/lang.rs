//! Which language to answer in: the `Accept-Language` header (RFC 9110
//! 12.5.4) against the languages the catalogue has.

use super::catalogue::FALLBACK;

/// The most preferred language of `header` that `known` accepts, by
/// q-value (ties keep the header's order), matching on the primary subtag
/// (`de-CH` picks `de`); English when none matches or there is no header.
/// Malformed entries are skipped, never an error: the header is the
/// browser's, and a page must still be shown.
pub(crate) fn negotiate(header: Option<&str>, known: impl Fn(&str) -> bool) -> String {
    let mut ranges: Vec<(u16, String)> = header
        .unwrap_or_default()
        .split(',')
        .take(32)
        .filter_map(|entry| {
            let mut parts = entry.split(';');
            let tag = parts.next()?.trim();
            let mut quality = 1000;
            for param in parts {
                let (name, value) = param.trim().split_once('=')?;
                if name.trim().eq_ignore_ascii_case("q") {
                    quality = parse_quality(value.trim())?;
                }
            }
            let primary = tag.split('-').next()?.to_ascii_lowercase();
            (quality > 0 && !primary.is_empty()).then_some((quality, primary))
        })
        .collect();
    // Stable: equal q-values keep the header's order.
    ranges.sort_by_key(|range| std::cmp::Reverse(range.0));
    ranges
        .into_iter()
        .map(|(_, primary)| primary)
        .find(|primary| primary == "*" || known(primary))
        .filter(|primary| primary != "*")
        .unwrap_or_else(|| FALLBACK.to_owned())
}

/// A q-value in thousandths: "0", "0.5", "1", "1.000"; `None` if malformed.
fn parse_quality(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{fraction:0<3}").parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(header: &str) -> String {
        negotiate(Some(header), |lang| matches!(lang, "en" | "de"))
    }

    #[test]
    fn q_values_are_honoured() {
        assert_eq!(pick("de"), "de");
        assert_eq!(pick("de-CH, en;q=0.5"), "de");
        assert_eq!(pick("en;q=0.5, de;q=0.9"), "de");
        assert_eq!(pick("fr, de;q=0.1"), "de");
        assert_eq!(pick("de;q=0, en"), "en");
        assert_eq!(pick("fr"), "en");
        assert_eq!(pick("*"), "en");
        assert_eq!(pick("DE"), "de");
        assert_eq!(pick("en, de"), "en");
        assert_eq!(negotiate(None, |_| true), "en");
    }

    #[test]
    fn malformed_entries_are_skipped() {
        assert_eq!(pick("de;q=2, en"), "en");
        assert_eq!(pick("de;q=abc"), "en");
        assert_eq!(pick(";;;,,, de;q=0.3"), "de");
        assert_eq!(pick("de;q=0.0001"), "en");
    }
}
