//! Dates as directory sources write them.

use chrono::NaiveDate;

/// Parses a calendar date written in any of the forms HR and LDAP sources
/// use: `YYYY-MM-DD`, `DD/MM/YYYY`, `YYYYMMDD`, or an LDAP GeneralizedTime
/// (`YYYYMMDDhhmmssZ`, of which the date part is kept).
pub fn parse_source_date(input: &str) -> Option<NaiveDate> {
    let s = input.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d);
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%d/%m/%Y") {
        return Some(d);
    }
    // `get` rather than slicing: hostile input may put a multi-byte
    // character across the boundary (found by proptest).
    let digits: &str = if let Some(head) = s
        .get(..14)
        .filter(|h| h.bytes().all(|b| b.is_ascii_digit()))
    {
        &head[..8]
    } else if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        s
    } else {
        return None;
    };
    NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_form_parses_to_the_same_date() {
        let d = NaiveDate::from_ymd_opt(1985, 3, 7).expect("valid");
        for s in [
            "1985-03-07",
            "07/03/1985",
            "19850307",
            "19850307000000Z",
            " 1985-03-07 ",
        ] {
            assert_eq!(parse_source_date(s), Some(d), "{s}");
        }
    }

    #[test]
    fn impossible_dates_are_refused() {
        for s in [
            "1985-02-30",
            "31/04/2020",
            "2020",
            "",
            "hier",
            "1985073",
            "6\u{feff}?'aaaaaaaaaaaaaaaaaaaa",
        ] {
            assert_eq!(parse_source_date(s), None, "{s}");
        }
    }
}
