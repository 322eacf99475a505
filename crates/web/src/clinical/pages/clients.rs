//! The client pages: the searchable list, one client's contact details with their
//! patients, and the new-client form. Reading needs `clients.read`, registering
//! `clients.write`; the store checks both again.

use super::patients::patient_row;
use crate::auth::Meta;
use crate::clinical::views::{
    ClientForm, ClientFormPage, ClientPage, ClientRow, ClientView, ClientsPage,
};
use crate::context::{CsrfForm, Page};
use crate::form::{FieldMessages, Pairs, Refusal};
use crate::format::{date_time, href};
use crate::input::{MAX_SEARCH, path_id, present};
use crate::layout::{PageSession, can, nav_in, signed_in};
use crate::{AppError, AppState};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use paddock_domain::field::{bounded_text, no_control_characters, note_text};
use paddock_domain::{Email, Permission, Phone};
use paddock_store::clinical::clients::{self, Client, ClientDetails};
use paddock_store::page::{self as paging, Cursor};
use paddock_store::{RequestMeta, clinical::patients};
use serde::Deserialize;
use uuid::Uuid;

/// `GET /clients`: a page of clients by family name, optionally matching `q`. The
/// layout and the list are read in the request's one transaction.
pub(crate) async fn list_page(
    Page { ctx, nav }: Page,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, AppError> {
    let (listing, paging) = ListQuery::parse(&Pairs::new(query));
    let can_write = ctx
        .principal
        .permissions()
        .contains(Permission::ClientsWrite);
    let nav = nav.at("clients");
    let found = match paging {
        Ok((cursor, limit)) => {
            ctx.run(async |tx| clients::list(tx, listing.search(), limit, cursor.as_ref()).await)
                .await?
        }
        Err(errors) => {
            // Refused before any work: the page's statement never runs.
            ctx.require(Permission::ClientsRead)?;
            let body = ClientsPage {
                nav,
                q: listing.q,
                rows: Vec::new(),
                errors: errors.summary(),
                next_href: None,
                first_href: None,
                can_write,
            };
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, body).into_response());
        }
    };
    let (next_href, first_href) = listing.links("/clients", found.next_cursor.as_deref());
    Ok(ClientsPage {
        nav,
        q: listing.q,
        rows: found.items.iter().map(client_row).collect(),
        errors: Vec::new(),
        next_href,
        first_href,
        can_write,
    }
    .into_response())
}

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

fn client_row(c: &Client) -> ClientRow {
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

#[derive(Deserialize)]
pub(super) struct NoticeQuery {
    notice: Option<String>,
}

/// Only fixed notices can be shown through the query string.
fn notice_text(key: Option<&str>) -> Option<String> {
    match key? {
        "created" => Some("Client registered.".to_owned()),
        "updated" => Some("Details saved.".to_owned()),
        _ => None,
    }
}

/// `GET /clients/{id}`: one client's contact details and their patients.
pub(crate) async fn detail_page(
    State(state): State<AppState>,
    Meta(meta): Meta,
    page: Page,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let page = signed_in(page).await?;
    page.auth.principal.require(Permission::ClientsRead)?;
    let id = path_id(&id)?;
    let nav = nav_in(&state, &page, &meta, "clients").await?;
    let read_patients = can(&page, Permission::PatientsRead);
    let mut tx = state.db.begin(&page.auth.principal, &meta).await?;
    let client = clients::get(&mut tx, paddock_domain::ClientId::from_uuid(id)).await?;
    let owned = if read_patients {
        Some(patients::of_client(&mut tx, paddock_domain::ClientId::from_uuid(id)).await?)
    } else {
        None
    };
    tx.commit().await?;
    let mut contact_by = Vec::new();
    if client.contact_by_email {
        contact_by.push("email");
    }
    if client.contact_by_sms {
        contact_by.push("SMS");
    }
    let view = ClientView {
        id: client.id.as_uuid(),
        full_name: client.full_name(),
        email: client.email.unwrap_or_default(),
        mobile: client.mobile.unwrap_or_default(),
        phone: client.phone.unwrap_or_default(),
        address_lines: client
            .address
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect(),
        contact_by: if contact_by.is_empty() {
            "neither email nor SMS".to_owned()
        } else {
            contact_by.join(", ")
        },
        reminders: client.reminders,
        notes: client.notes.unwrap_or_default(),
        registered: format!("{} UTC", date_time(client.created_at)),
    };
    Ok(ClientPage {
        nav,
        client: view,
        patients: owned.map(|list| {
            list.into_iter()
                // This page needs clients.read, so owners can link to their pages.
                .map(|p| patient_row(p, true))
                .collect()
        }),
        can_add_patient: can(&page, Permission::PatientsWrite),
        can_edit: can(&page, Permission::ClientsWrite),
        notice: notice_text(q.notice.as_deref()),
    }
    .into_response())
}

/// `GET /clients/new`: the empty form (email contact and reminders on by default).
pub(crate) async fn new_page(
    State(state): State<AppState>,
    Meta(meta): Meta,
    page: Page,
) -> Result<Response, AppError> {
    let page = signed_in(page).await?;
    page.auth.principal.require(Permission::ClientsWrite)?;
    let form = ClientForm {
        contact_by_email: true,
        reminders: true,
        ..ClientForm::default()
    };
    render_form(
        &state,
        &page,
        &meta,
        (form, None),
        FieldMessages::none(),
        StatusCode::OK,
    )
    .await
}

/// `GET /clients/{id}/edit`: the form filled with the client's details.
pub(crate) async fn edit_page(
    State(state): State<AppState>,
    Meta(meta): Meta,
    page: Page,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let page = signed_in(page).await?;
    page.auth.principal.require(Permission::ClientsWrite)?;
    let id = path_id(&id)?;
    let mut tx = state.db.begin(&page.auth.principal, &meta).await?;
    let client = clients::get(&mut tx, paddock_domain::ClientId::from_uuid(id)).await?;
    tx.commit().await?;
    let form = ClientForm {
        given_name: client.given_name,
        family_name: client.family_name,
        email: client.email.unwrap_or_default(),
        mobile: client.mobile.unwrap_or_default(),
        phone: client.phone.unwrap_or_default(),
        address: client.address.unwrap_or_default(),
        contact_by_email: client.contact_by_email,
        contact_by_sms: client.contact_by_sms,
        reminders: client.reminders,
        notes: client.notes.unwrap_or_default(),
    };
    render_form(
        &state,
        &page,
        &meta,
        (form, Some(id)),
        FieldMessages::none(),
        StatusCode::OK,
    )
    .await
}

/// Renders the form, new (`None`) or for the client being edited.
async fn render_form(
    state: &AppState,
    page: &PageSession,
    meta: &RequestMeta,
    (form, editing): (ClientForm, Option<Uuid>),
    errors: FieldMessages,
    status: StatusCode,
) -> Result<Response, AppError> {
    let nav = nav_in(state, page, meta, "clients").await?;
    Ok((
        status,
        ClientFormPage {
            nav,
            form,
            errors,
            editing,
        },
    )
        .into_response())
}

/// The new-client form as posted (every field optional here, so a missing one is a
/// message beside it rather than a refused request).
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ClientInput {
    given_name: String,
    family_name: String,
    email: String,
    mobile: String,
    phone: String,
    address: String,
    contact_by_email: Option<String>,
    contact_by_sms: Option<String>,
    reminders: Option<String>,
    notes: String,
}

impl ClientInput {
    fn into_form(self) -> ClientForm {
        ClientForm {
            given_name: self.given_name,
            family_name: self.family_name,
            email: self.email,
            mobile: self.mobile,
            phone: self.phone,
            address: self.address,
            contact_by_email: self.contact_by_email.is_some(),
            contact_by_sms: self.contact_by_sms.is_some(),
            reminders: self.reminders.is_some(),
            notes: self.notes,
        }
    }
}

/// The client a form describes, or every field's message.
fn parse_client(form: &ClientForm) -> Result<ClientDetails, FieldMessages> {
    let mut errors = FieldMessages::none();
    let given_name = errors.check(bounded_text("given_name", &form.given_name, 1, 100));
    let family_name = errors.check(bounded_text("family_name", &form.family_name, 1, 100));
    let email = present(&form.email).and_then(|raw| errors.check(Email::parse("email", raw)));
    let mobile = present(&form.mobile).and_then(|raw| errors.check(Phone::parse("mobile", raw)));
    let phone = present(&form.phone).and_then(|raw| errors.check(Phone::parse("phone", raw)));
    let address = errors
        .check(note_text("address", &form.address, 500))
        .filter(|text| !text.is_empty());
    let notes = errors
        .check(note_text("notes", &form.notes, 4000))
        .filter(|text| !text.is_empty());
    if form.contact_by_sms && mobile.is_none() && errors.get("mobile").is_none() {
        errors.add("mobile", "is needed to contact the client by SMS");
    }
    match (given_name, family_name) {
        (Some(given_name), Some(family_name)) if errors.is_empty() => Ok(ClientDetails {
            given_name,
            family_name,
            email,
            mobile,
            phone,
            address,
            contact_by_email: form.contact_by_email,
            contact_by_sms: form.contact_by_sms,
            reminders: form.reminders,
            notes,
        }),
        _ => Err(errors),
    }
}

/// `POST /clients`: registers the client and opens their page.
pub(crate) async fn create_submit(
    State(state): State<AppState>,
    Meta(meta): Meta,
    page: Page,
    CsrfForm(input): CsrfForm<ClientInput>,
) -> Result<Response, AppError> {
    save(&state, &meta, page, input, None).await
}

/// `POST /clients/{id}`: saves the edited details and returns to the client's page.
pub(crate) async fn update_submit(
    State(state): State<AppState>,
    Meta(meta): Meta,
    page: Page,
    Path(id): Path<String>,
    CsrfForm(input): CsrfForm<ClientInput>,
) -> Result<Response, AppError> {
    let id = path_id(&id)?;
    save(&state, &meta, page, input, Some(id)).await
}

/// Registers a client (`editing` is `None`) or replaces one's details; a refusal
/// shows the form again with the input kept.
async fn save(
    state: &AppState,
    meta: &RequestMeta,
    page: Page,
    input: ClientInput,
    editing: Option<Uuid>,
) -> Result<Response, AppError> {
    let page = signed_in(page).await?;
    page.auth.principal.require(Permission::ClientsWrite)?;
    let form = input.into_form();
    let details = match parse_client(&form) {
        Ok(details) => details,
        Err(errors) => {
            return render_form(
                state,
                &page,
                meta,
                (form, editing),
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let mut tx = state.db.begin(&page.auth.principal, meta).await?;
    let saved = match editing {
        None => clients::create(&mut tx, &details).await,
        Some(id) => {
            clients::update(&mut tx, paddock_domain::ClientId::from_uuid(id), &details).await
        }
    };
    match saved {
        Ok(client) => {
            tx.commit().await?;
            let notice = if editing.is_some() {
                "updated"
            } else {
                "created"
            };
            Ok(Redirect::to(&format!("/clients/{}?notice={notice}", client.id)).into_response())
        }
        Err(error) => {
            tx.rollback().await?;
            match Refusal::of(error, &[]) {
                Refusal::Form(status, errors) => {
                    render_form(state, &page, meta, (form, editing), errors, status).await
                }
                Refusal::Error(error) => Err(error),
            }
        }
    }
}
