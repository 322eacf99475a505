//! `paddock audit export`: one practice's trail as JSON lines or CSV on stdout.

use super::{CommandError, connect, unknown_practice};
use crate::cli::{AuditExportArgs, ExportFormat};
use paddock_domain::PracticeId;
use paddock_store::AdminDb;
use paddock_store::audit::log::{AuditFilter, AuditRecord};
use std::borrow::Cow;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

/// The CSV header: the fields of [`AuditRecord`], in the order of the JSON lines.
const CSV_COLUMNS: [&str; 15] = [
    "seq",
    "id",
    "occurred_at",
    "actor_kind",
    "actor_user_id",
    "actor_name",
    "actor_role",
    "action",
    "entity_type",
    "entity_id",
    "changes",
    "ip",
    "user_agent",
    "request_id",
    "hash",
];

pub async fn run(args: AuditExportArgs) -> Result<ExitCode, CommandError> {
    if let (Some(since), Some(until)) = (args.since, args.until)
        && since >= until
    {
        return Err(format!(
            "--since ({}) must be before --until ({}): --until is exclusive",
            since.to_rfc3339(),
            until.to_rfc3339()
        )
        .into());
    }
    let practice = PracticeId::from_uuid(args.practice);
    let admin = connect().await?;
    let result = export(&admin, practice, &args).await;
    admin.close().await;
    let count = result?;
    eprintln!(
        "paddock: exported {count} event(s) of practice {practice} as {}",
        args.format.as_str()
    );
    Ok(ExitCode::SUCCESS)
}

async fn export(
    admin: &AdminDb,
    practice: PracticeId,
    args: &AuditExportArgs,
) -> Result<u64, CommandError> {
    // The store would record the export in the trail of an unknown id and fail on
    // the foreign key only after streaming nothing; say what is wrong instead.
    let heads = admin.audit_heads().await?;
    if !heads.iter().any(|h| h.practice_id == practice.as_uuid()) {
        return Err(unknown_practice(practice));
    }
    let filter = AuditFilter {
        from: args.since,
        to: args.until,
        ..AuditFilter::default()
    };
    let format = args.format;
    let mut out = BufWriter::new(io::stdout());
    if format == ExportFormat::Csv {
        write_csv_row(&mut out, CSV_COLUMNS.map(Some))?;
    }
    // `None` ends the export: the buffer's tail must be written before the store
    // records the export as done.
    let mut sink = |record: Option<&AuditRecord>| match (record, format) {
        (Some(record), ExportFormat::Jsonl) => write_json_line(&mut out, record),
        (Some(record), ExportFormat::Csv) => write_csv_record(&mut out, record),
        (None, _) => out.flush(),
    };
    let count = admin
        .export_audit(practice, &filter, format.as_str(), &mut sink)
        .await?;
    Ok(count)
}

fn write_json_line(out: &mut impl Write, record: &AuditRecord) -> io::Result<()> {
    serde_json::to_writer(&mut *out, record).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

fn write_csv_record(out: &mut impl Write, record: &AuditRecord) -> io::Result<()> {
    let changes = match &record.changes {
        Some(changes) => Some(serde_json::to_string(changes).map_err(io::Error::other)?),
        None => None,
    };
    let fields: [Option<String>; 15] = [
        record.seq.map(|v| v.to_string()),
        Some(record.id.to_string()),
        // RFC 3339 in UTC with as many fraction digits as needed, as in the JSON lines.
        Some(
            record
                .occurred_at
                .format("%Y-%m-%dT%H:%M:%S%.fZ")
                .to_string(),
        ),
        Some(record.actor_kind.clone()),
        record.actor_user_id.map(|v| v.to_string()),
        record.actor_name.clone(),
        record.actor_role.clone(),
        Some(record.action.clone()),
        record.entity_type.clone(),
        record.entity_id.map(|v| v.to_string()),
        changes,
        record.ip.clone(),
        record.user_agent.clone(),
        record.request_id.clone(),
        record.hash.clone(),
    ];
    write_csv_row(out, fields.each_ref().map(Option::as_deref))
}

/// Writes one CSV record (RFC 4180: comma-separated, CRLF-terminated); a missing
/// value is an empty field.
fn write_csv_row<const N: usize>(
    out: &mut impl Write,
    fields: [Option<&str>; N],
) -> io::Result<()> {
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(csv_field(field.unwrap_or_default()).as_bytes())?;
    }
    out.write_all(b"\r\n")
}

/// A CSV field: quoted (with inner quotes doubled) when it holds a comma, a quote, a
/// line break, or space at either end (which some readers would trim); as is
/// otherwise. Values are not otherwise altered: an audit export is a faithful copy.
fn csv_field(value: &str) -> Cow<'_, str> {
    let needs_quotes = value.contains([',', '"', '\n', '\r'])
        || value.starts_with(char::is_whitespace)
        || value.ends_with(char::is_whitespace);
    if needs_quotes {
        Cow::Owned(format!("\"{}\"", value.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed_and_inner_quotes_are_doubled() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field(""), "");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(
            csv_field(r#"{"role":["Vet","Admin"]}"#),
            r#""{""role"":[""Vet"",""Admin""]}""#
        );
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("cr\rhere"), "\"cr\rhere\"");
        assert_eq!(csv_field(" padded"), "\" padded\"");
        assert_eq!(csv_field("=1+1"), "=1+1");
    }

    #[test]
    fn csv_rows_end_with_crlf_and_leave_missing_values_empty() {
        let mut out = Vec::new();
        write_csv_row(&mut out, [Some("1"), None, Some("x,y"), Some("")]).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "1,,\"x,y\",\r\n");
    }
}
