//! What the client and patient list pages share: the search and paging an address
//! gives (`q`, `cursor`, `limit`), the links to the next and first pages, and the
//! rows (a client, a patient) as every list shows them.

use crate::clinical::views::{ClientRow, PatientRow};
use crate::form::{FieldMessages, Pairs};
use crate::format::href;
use crate::input::MAX_SEARCH;
use paddock_domain::field::no_control_characters;
use paddock_store::clinical::clients::Client;
use paddock_store::clinical::patients::Patient;
use paddock_store::page::{self as paging, Cursor};

/// A list page's search and paging, as the address gave them.
pub(super) struct ListQuery {
    /// The search as typed.
    pub(super) q: String,
    /// The page size, when the address set one (kept while paging).
    limit_text: String,
    /// Whether this is a later page.
    paged: bool,
}

/// Where a list page starts and how many rows it shows, or what is wrong with the address.
pub(super) type Paging = Result<(Option<Cursor>, i64), FieldMessages>;

impl ListQuery {
    /// Reads `q`, `cursor` and `limit`.
    pub(super) fn parse(pairs: &Pairs) -> (Self, Paging) {
        let q = pairs.text("q");
        let mut errors = FieldMessages::none();
        if q.chars().count() > MAX_SEARCH {
            errors.add("q", format!("must be at most {MAX_SEARCH} characters"));
        }
        // The store refuses it too; here it becomes the list's own message.
        errors.check(no_control_characters("q", &q));
        let limit = errors
            .check(paging::limit("limit", pairs.get("limit")))
            .unwrap_or(paging::DEFAULT_LIMIT);
        let cursor = pairs
            .get("cursor")
            .and_then(|raw| errors.check(Cursor::decode("cursor", raw)));
        let listing = Self {
            q,
            limit_text: pairs.text("limit"),
            paged: pairs.get("cursor").is_some(),
        };
        let paging = if errors.is_empty() {
            Ok((cursor, limit))
        } else {
            Err(errors)
        };
        (listing, paging)
    }

    /// The search to run, if any.
    pub(super) fn search(&self) -> Option<&str> {
        Some(self.q.as_str()).filter(|q| !q.is_empty())
    }

    /// The next page's link (when there is one) and the first page's (when paged).
    pub(super) fn links(
        &self,
        path: &str,
        next_cursor: Option<&str>,
    ) -> (Option<String>, Option<String>) {
        let next = next_cursor.map(|cursor| {
            href(
                path,
                &[
                    ("q", &self.q),
                    ("limit", &self.limit_text),
                    ("cursor", cursor),
                ],
            )
        });
        let first = self
            .paged
            .then(|| href(path, &[("q", &self.q), ("limit", &self.limit_text)]));
        (next, first)
    }
}

/// A client as the client list shows it.
pub(super) fn client_row(c: &Client) -> ClientRow {
    ClientRow {
        id: c.id.as_uuid(),
        name: c.sort_name(),
        email: c.email.clone().unwrap_or_default(),
        phone: c
            .mobile
            .clone()
            .or_else(|| c.phone.clone())
            .unwrap_or_default(),
    }
}

/// A patient as lists show it; the owner links to their page only for those who may
/// read clients.
pub(super) fn patient_row(p: Patient, read_clients: bool) -> PatientRow {
    PatientRow {
        id: p.id.as_uuid(),
        kind: match &p.breed {
            Some(breed) => format!("{} · {breed}", p.species),
            None => p.species.clone(),
        },
        sex: p.sex.label(),
        microchip: p.microchip.unwrap_or_default(),
        owner_href: p
            .primary_owner_id
            .filter(|_| read_clients)
            .map(|id| format!("/clients/{id}")),
        owner_name: p.primary_owner_name.unwrap_or_default(),
        status: p.status.to_string(),
        name: p.name,
    }
}
