//! Return addresses (`next`, `back`): where a page sends the browser after a form.
//!
//! They come from the request, so they are parsed once, before the form's work is
//! done, into a [`ReturnTo`] that can only hold a path of this site. Anything else
//! (another origin, a scheme, control characters that browsers silently drop, such as
//! the tab in `/\t/evil.example`, backslashes that browsers read as slashes, empty or
//! dot segments that normalise into `//`, the same tricks percent-encoded) falls back
//! to the page's default: the person still gets where the form leads, never elsewhere.

/// The longest return address kept; ours are far shorter.
const MAX_LEN: usize = 2048;

/// A path (and query) on this site, safe to put in `Location`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ReturnTo(String);

impl ReturnTo {
    /// A fixed address of ours.
    pub(super) fn fixed(path: &'static str) -> Self {
        Self(path.to_owned())
    }

    /// `raw` if it is a path of this site, else `None`.
    pub(super) fn parse(raw: &str) -> Option<Self> {
        // As sent: visible ASCII only, so it is a valid header value as it stands.
        if raw.is_empty() || raw.len() > MAX_LEN || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        // As a browser may read it: with its escapes decoded (twice over, for escapes
        // of escapes), it must still be a plain path of ours.
        let once = percent_decoded(raw)?;
        let twice = percent_decoded(&once)?;
        [raw, once.as_str(), twice.as_str()]
            .iter()
            .all(|form| is_local(form))
            .then(|| Self(raw.to_owned()))
    }

    /// `raw` if it is a path of this site, else `default`.
    pub(super) fn or(raw: Option<&str>, default: &'static str) -> Self {
        raw.and_then(Self::parse)
            .unwrap_or_else(|| Self::fixed(default))
    }

    /// The address if its path is `path` exactly (a return into one page only).
    pub(super) fn within(self, path: &str) -> Option<Self> {
        let own = self.0.split(['?', '#']).next().unwrap_or_default();
        (own == path).then_some(self)
    }

    /// The address as text.
    pub(super) fn as_str(&self) -> &str {
        &self.0
    }

    /// The address with `notice=<key>` added to its query (`key` is one of ours).
    pub(super) fn with_notice(&self, key: &str) -> String {
        let joiner = if self.0.contains('?') { '&' } else { '?' };
        format!("{}{joiner}notice={key}", self.0)
    }
}

/// Whether `text` reads as a path of this site: it starts with one `/`, holds no
/// control character, backslash or whitespace in its path, and no empty, `.` or `..`
/// segment (so no normalisation can turn it into `//host`).
fn is_local(text: &str) -> bool {
    if !text.starts_with('/') || text.chars().any(|c| c.is_control() || c == '\\') {
        return false;
    }
    let path = text.split(['?', '#']).next().unwrap_or_default();
    if path.chars().any(char::is_whitespace) {
        return false;
    }
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    segments
        .iter()
        .enumerate()
        // A trailing slash leaves one empty last segment: `/` and `/staff/` are fine.
        .all(|(i, s)| !matches!(*s, "." | "..") && (!s.is_empty() || i == last))
}

/// `text` with its `%XX` escapes decoded; `None` if an escape is malformed or the
/// result is not UTF-8.
fn percent_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(byte);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_this_site_are_kept_as_sent() {
        for path in [
            "/",
            "/staff",
            "/staff/",
            "/appointments?day=2027-01-04",
            "/patients?q=o%27brien%20%26%20co",
            "/audit?entity_id=01a2&action=login#top",
        ] {
            assert_eq!(ReturnTo::parse(path).map(|r| r.0).as_deref(), Some(path));
        }
    }

    #[test]
    fn anything_a_browser_could_read_as_another_site_is_refused() {
        for raw in [
            "",
            "staff",
            "//evil.example",
            "///evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/%5Cevil.example",
            "/%2F/evil.example",
            "/%2f%2fevil.example",
            "/%252F/evil.example",
            "/%09/evil.example",
            "/%2509/evil.example",
            "/./%2Fevil.example",
            "/.//evil.example",
            "/a/..//evil.example",
            "/a/../",
            "/%2E%2E/x",
            "https://evil.example/",
            "javascript:alert(1)",
            " /staff",
            "/staff page",
            "/\u{7f}",
            "/%7F",
            "/%00",
            "/?x=%0D%0ASet-Cookie:a=b",
            "/%zz",
            "/%C3",
            "/é",
        ] {
            assert_eq!(ReturnTo::parse(raw), None, "{raw:?}");
        }
        assert_eq!(ReturnTo::parse(&format!("/{}", "a".repeat(MAX_LEN))), None);
        assert_eq!(ReturnTo::or(Some("//evil.example"), "/").as_str(), "/");
    }

    #[test]
    fn a_return_into_one_page_keeps_only_that_page() {
        let calendar = |raw: &str| ReturnTo::parse(raw).and_then(|r| r.within("/appointments"));
        assert!(calendar("/appointments?day=2027-01-04").is_some());
        assert!(calendar("/appointments").is_some());
        assert!(calendar("/appointmentsx?day=1").is_none());
        assert!(calendar("/staff?next=/appointments").is_none());
        assert_eq!(
            ReturnTo::fixed("/appointments").with_notice("status"),
            "/appointments?notice=status"
        );
        assert_eq!(
            ReturnTo::parse("/appointments?day=2027-01-04")
                .unwrap()
                .with_notice("status"),
            "/appointments?day=2027-01-04&notice=status"
        );
    }
}
