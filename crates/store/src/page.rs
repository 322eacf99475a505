//! Cursor pagination for lists ordered by a text key and an id (names, times).
//!
//! A cursor is the last row's key and id, base64url-encoded; callers treat it as
//! opaque and pass it back unchanged. Keys are compared in the database with the same
//! ordering the list uses, so a page never skips or repeats a row.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use paddock_domain::FieldError;
use uuid::Uuid;

/// The default page size.
pub const DEFAULT_LIMIT: i64 = 50;
/// The largest page a caller may ask for.
pub const MAX_LIMIT: i64 = 200;

/// Where the previous page ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The sort key of the last row shown.
    pub key: String,
    /// The id of the last row shown (breaks ties).
    pub id: Uuid,
}

impl Cursor {
    /// The cursor after a row with `key` and `id`.
    pub fn after(key: impl Into<String>, id: Uuid) -> Self {
        Self {
            key: key.into(),
            id,
        }
    }

    /// The opaque text form.
    pub fn encode(&self) -> String {
        let mut bytes = self.id.as_bytes().to_vec();
        bytes.extend_from_slice(self.key.as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Parses a cursor a caller passed back.
    pub fn decode(field: &str, text: &str) -> Result<Self, FieldError> {
        let invalid = || {
            FieldError::new(
                field,
                "is not a cursor of this list (pass `next_cursor` back unchanged)",
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        if bytes.len() < 16 {
            return Err(invalid());
        }
        let (id, key) = bytes.split_at(16);
        let key = String::from_utf8(key.to_vec()).map_err(|_| invalid())?;
        // No list's key holds a control character (names and times are refused with
        // one), so a cursor that does was not made here; a NUL would reach SQL.
        if key.chars().any(char::is_control) {
            return Err(invalid());
        }
        Ok(Self {
            id: Uuid::from_slice(id).map_err(|_| invalid())?,
            key,
        })
    }
}

/// Parses a page size: 1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`].
pub fn limit(field: &str, raw: Option<&str>) -> Result<i64, FieldError> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(raw) => raw
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                FieldError::new(field, format!("must be a number from 1 to {MAX_LIMIT}"))
            }),
    }
}

/// One page of a list and the cursor of the next page, if there is one.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Cuts `rows` (fetched with `limit + 1`) to `limit` and makes the next cursor from
    /// the last row kept.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> Cursor) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = more
            .then(|| rows.last().map(|row| cursor_of(row).encode()))
            .flatten();
        Self {
            items: rows,
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_with_any_key() {
        let id = Uuid::now_v7();
        for key in ["", "bella", "Ōtsuka 🐾", "2026-11-28T09:00:00+00:00"] {
            let cursor = Cursor::after(key, id);
            assert_eq!(Cursor::decode("cursor", &cursor.encode()).unwrap(), cursor);
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for text in ["", "!!", "AAAA", "not a cursor"] {
            assert!(Cursor::decode("cursor", text).is_err(), "{text}");
        }
        let forged = Cursor::after("a\0b", Uuid::now_v7()).encode();
        assert!(Cursor::decode("cursor", &forged).is_err());
    }

    #[test]
    fn limits_default_and_are_bounded() {
        assert_eq!(limit("limit", None), Ok(50));
        assert_eq!(limit("limit", Some("200")), Ok(200));
        assert!(limit("limit", Some("0")).is_err());
        assert!(limit("limit", Some("201")).is_err());
        assert!(limit("limit", Some("ten")).is_err());
    }

    #[test]
    fn a_full_page_has_a_cursor_and_the_last_page_none() {
        let rows: Vec<u8> = (0..4).collect();
        let id = Uuid::nil();
        let page = Page::from_rows(rows.clone(), 3, |r| Cursor::after(r.to_string(), id));
        assert_eq!(page.items, vec![0, 1, 2]);
        let next = Cursor::decode("cursor", page.next_cursor.as_deref().unwrap()).unwrap();
        assert_eq!(next.key, "2");
        let last = Page::from_rows(rows, 4, |r| Cursor::after(r.to_string(), id));
        assert_eq!(last.next_cursor, None);
    }
}
