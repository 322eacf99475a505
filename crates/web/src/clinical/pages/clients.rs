//! The client pages: the searchable list, one client's contact details with their
//! patients, and the new-client and edit forms. Reading needs `clients.read`,
//! registering and editing `clients.write`; the store checks both.

use super::list::{ListQuery, client_row, patient_row};
use crate::AppError;
use crate::clinical::views::{ClientForm, ClientFormPage, ClientPage, ClientView, ClientsPage};
use crate::context::PageId;
use crate::context::{CsrfForm, Page};
use crate::form::{FieldMessages, Pairs};
use crate::form::{Outcome, no_work, submit};
use crate::format::local_time;
use crate::input::present;
use crate::layout::Nav;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use paddock_domain::field::{bounded_text, note_text};
use paddock_domain::{ClientId, Email, Permission, Phone};
use paddock_store::clinical::clients::{self, ClientDetails};
use paddock_store::clinical::patients;
use serde::Deserialize;

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

/// `GET /clients/{id}`: one client's contact details and their patients (those only
/// with `patients.read`), read in the request's transaction.
pub(crate) async fn detail_page(
    Page { ctx, nav }: Page,
    PageId(id): PageId<ClientId>,
    crate::input::Query(q): crate::input::Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let permissions = ctx.principal.permissions();
    let read_patients = permissions.contains(Permission::PatientsRead);
    let can_add_patient = permissions.contains(Permission::PatientsWrite);
    let can_edit = permissions.contains(Permission::ClientsWrite);
    let (client, owned) = ctx
        .run(async |tx| {
            let client = clients::get(tx, id).await?;
            let owned = if read_patients {
                Some(patients::of_client(tx, id).await?)
            } else {
                None
            };
            Ok((client, owned))
        })
        .await?;
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
        registered: local_time(&nav.zone, client.created_at),
    };
    Ok(ClientPage {
        nav: nav.at("clients"),
        client: view,
        patients: owned.map(|list| {
            list.into_iter()
                // This page needs clients.read, so owners can link to their pages.
                .map(|p| patient_row(p, true))
                .collect()
        }),
        can_add_patient,
        can_edit,
        notice: notice_text(q.notice.as_deref()),
    }
    .into_response())
}

/// `GET /clients/new`: the empty form (email contact and reminders on by default).
pub(crate) async fn new_page(Page { ctx, nav }: Page) -> Result<Response, AppError> {
    // No store call checks it for an empty form.
    ctx.require(Permission::ClientsWrite)?;
    no_work(ctx).await?;
    let form = ClientForm {
        contact_by_email: true,
        reminders: true,
        ..ClientForm::default()
    };
    Ok(form_page(
        nav,
        (form, None),
        FieldMessages::none(),
        StatusCode::OK,
    ))
}

/// `GET /clients/{id}/edit`: the form filled with the client's details.
pub(crate) async fn edit_page(
    Page { ctx, nav }: Page,
    PageId(id): PageId<ClientId>,
) -> Result<Response, AppError> {
    // Reading the client checks `clients.read`; the form is for those who may save it.
    ctx.require(Permission::ClientsWrite)?;
    let client = ctx.run(async |tx| clients::get(tx, id).await).await?;
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
    Ok(form_page(
        nav,
        (form, Some(id)),
        FieldMessages::none(),
        StatusCode::OK,
    ))
}

/// The form, new (`None`) or for the client being edited.
fn form_page(
    nav: Nav,
    (form, editing): (ClientForm, Option<ClientId>),
    errors: FieldMessages,
    status: StatusCode,
) -> Response {
    (
        status,
        ClientFormPage {
            nav: nav.at("clients"),
            form,
            errors,
            editing: editing.map(|id| id.as_uuid()),
        },
    )
        .into_response()
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
    page: Page,
    CsrfForm(input): CsrfForm<ClientInput>,
) -> Result<Response, AppError> {
    save(page, input, None).await
}

/// `POST /clients/{id}`: saves the edited details and returns to the client's page.
pub(crate) async fn update_submit(
    page: Page,
    PageId(id): PageId<ClientId>,
    CsrfForm(input): CsrfForm<ClientInput>,
) -> Result<Response, AppError> {
    save(page, input, Some(id)).await
}

/// Registers a client (`editing` is `None`) or replaces one's details; a refusal
/// shows the form again with the input kept.
async fn save(
    Page { ctx, nav }: Page,
    input: ClientInput,
    editing: Option<ClientId>,
) -> Result<Response, AppError> {
    let form = input.into_form();
    let details = match parse_client(&form) {
        Ok(details) => details,
        Err(errors) => {
            // Refused before the store call that would check it.
            ctx.require(Permission::ClientsWrite)?;
            no_work(ctx).await?;
            return Ok(form_page(
                nav,
                (form, editing),
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            ));
        }
    };
    let saved = submit(
        ctx,
        &[],
        async |tx| match editing {
            None => clients::create(tx, &details).await,
            Some(id) => clients::update(tx, id, &details).await,
        },
        async |_, status, errors| Ok(form_page(nav, (form, editing), errors, status)),
    )
    .await?;
    match saved {
        Outcome::Done(client) => {
            let notice = if editing.is_some() {
                "updated"
            } else {
                "created"
            };
            Ok(Redirect::to(&format!("/clients/{}?notice={notice}", client.id)).into_response())
        }
        Outcome::Refused(page) => Ok(page),
    }
}
