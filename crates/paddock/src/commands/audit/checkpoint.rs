//! `paddock audit checkpoint`: an Ed25519-signed statement of every practice's chain
//! head, and reading one back for `audit verify --checkpoint`.
//!
//! A superuser can rewrite audit rows and recompute every later hash; the result
//! verifies on its own. A checkpoint kept where that superuser cannot write (another
//! system, a ticket, a printout) pins each chain's head at a moment: a later log that
//! no longer passes through those heads was rewritten. The statement is a compact
//! JWS so that anyone can check it with a standard JOSE library and the public key
//! (`--public-key`); the readable copy beside it is checked against the signed one.

use super::{CommandError, connect, key_dir, summary};
use crate::cli::AuditCheckpointArgs;
use paddock_domain::PracticeId;
use paddock_jwt::KeyStore;
use paddock_store::AdminDb;
use paddock_store::audit::chain::{ChainHead, Verification};
use serde::{Deserialize, Serialize};
use sqlx::types::chrono::{DateTime, Utc};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// The `format` of a checkpoint document.
pub const FORMAT: &str = "paddock-audit-checkpoint-v1";

/// The JOSE `typ` of the signed statement.
pub const TYPE: &str = "paddock-audit-checkpoint+jwt";

/// What a checkpoint vouches for: the JWS payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// When it was signed.
    pub issued_at: DateTime<Utc>,
    /// Every practice's chain head at that moment, ordered by practice id.
    pub heads: Vec<Head>,
}

/// One practice's chain head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The practice.
    pub practice_id: PracticeId,
    /// The last sealed sequence number.
    pub seq: i64,
    /// Its hash, lower-case hex.
    pub hash: String,
}

impl Head {
    /// The store's form, for `verify_audit`.
    pub fn to_chain_head(&self) -> ChainHead {
        ChainHead {
            practice_id: self.practice_id,
            seq: self.seq,
            hash: self.hash.clone(),
        }
    }
}

/// The checkpoint file as written: the signed statement, and a readable copy of it.
#[derive(Debug, Serialize)]
struct Document<'a> {
    /// Always [`FORMAT`].
    format: &'static str,
    /// The signing key's id (informative; the JWS header is what counts).
    kid: &'a str,
    /// A readable copy of the payload.
    statement: &'a Statement,
    /// The compact JWS whose payload is the statement.
    jws: String,
}

/// The checkpoint file as read: only `format` and `jws` are needed.
#[derive(Debug, Deserialize)]
struct DocumentIn {
    format: String,
    /// When present, it must equal the signed statement.
    #[serde(default)]
    statement: Option<serde_json::Value>,
    jws: String,
}

pub async fn run(args: AuditCheckpointArgs) -> Result<ExitCode, CommandError> {
    let dir = key_dir(&args.data_dir);
    if args.public_key {
        let keys = signing_keys(&dir)?;
        println!("{}", keys.jwks());
        return Ok(ExitCode::SUCCESS);
    }
    let admin = connect().await?;
    let result = verified_heads(&admin).await;
    admin.close().await;
    let verifications = result?;

    let broken: Vec<&Verification> = verifications.iter().filter(|v| !v.is_ok()).collect();
    if !broken.is_empty() {
        for verification in broken {
            eprintln!("{}", summary(verification));
        }
        eprintln!(
            "paddock: no checkpoint signed: a checkpoint must not vouch for a broken chain \
             (see `paddock audit verify`)"
        );
        return Ok(ExitCode::FAILURE);
    }
    let statement = Statement {
        // Whole seconds: the statement is for people too.
        issued_at: DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_default(),
        heads: verifications
            .iter()
            .filter(|v| v.head_seq > 0)
            .map(|v| Head {
                practice_id: v.practice_id,
                seq: v.head_seq,
                hash: v.head_hash.clone(),
            })
            .collect(),
    };
    let keys = signing_keys(&dir)?;
    let document = Document {
        format: FORMAT,
        kid: keys.current_kid(),
        statement: &statement,
        jws: keys.sign_statement(TYPE, &statement)?,
    };
    let mut text = serde_json::to_string(&document)?;
    text.push('\n');
    for head in &statement.heads {
        eprintln!("practice {}: head {}", head.practice_id, head.seq);
    }
    match &args.out {
        Some(path) => {
            write_atomically(path, text.as_bytes())?;
            eprintln!(
                "paddock: checkpoint of {} practice(s) signed with key {} written to {}",
                statement.heads.len(),
                keys.current_kid(),
                path.display()
            );
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
            eprintln!(
                "paddock: checkpoint of {} practice(s) signed with key {}",
                statement.heads.len(),
                keys.current_kid()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Seals, then verifies every practice: a checkpoint pins heads that verified.
async fn verified_heads(admin: &AdminDb) -> Result<Vec<Verification>, CommandError> {
    admin.seal_audit().await?;
    let mut verifications = Vec::new();
    for head in admin.audit_heads().await? {
        let practice = PracticeId::from_uuid(head.practice_id);
        verifications.push(admin.verify_audit(practice, None).await?);
    }
    Ok(verifications)
}

/// The checkpoint keys, generated (with a warning) when there are none yet.
fn signing_keys(dir: &Path) -> Result<KeyStore, CommandError> {
    let (keys, generated) = KeyStore::load_or_generate(dir)?;
    if generated {
        tracing::warn!(
            dir = %dir.display(),
            "generated a new audit checkpoint signing key: back it up, and keep its public key \
             (`paddock audit checkpoint --public-key`) where the database's administrators cannot change it"
        );
    }
    Ok(keys)
}

/// Writes `bytes` to `path` through a temporary file renamed into place, so a reader
/// never sees half a checkpoint.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CommandError> {
    let name = path
        .file_name()
        .ok_or_else(|| format!("--out {} does not name a file", path.display()))?;
    let mut temporary = name.to_owned();
    temporary.push(format!(".tmp-{}", std::process::id()));
    let temporary = path.with_file_name(temporary);
    let written = std::fs::File::create(&temporary).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(error) = written.and_then(|()| std::fs::rename(&temporary, path)) {
        let _ = std::fs::remove_file(&temporary);
        return Err(format!("cannot write the checkpoint to {}: {error}", path.display()).into());
    }
    Ok(())
}

/// Reads a checkpoint file (the document, or a bare compact JWS) and returns its
/// statement once the signature verifies with the keys in `key_dir`. A key named or
/// carried in the file is never used: it would vouch for itself.
pub fn read(path: &Path, key_dir: &Path) -> Result<Statement, CommandError> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the checkpoint {shown}: {e}"))?;
    let text = text.trim();
    let (jws, readable) = if text.starts_with('{') {
        let document: DocumentIn = serde_json::from_str(text)
            .map_err(|e| format!("{shown} is not an audit checkpoint: {e}"))?;
        if document.format != FORMAT {
            return Err(format!(
                "{shown} has format `{}`; this paddock reads `{FORMAT}`",
                document.format
            )
            .into());
        }
        (document.jws, document.statement)
    } else {
        (text.to_owned(), None)
    };
    let keys = KeyStore::load(key_dir).map_err(|e| {
        format!(
            "cannot check the checkpoint {shown}: {e}; checkpoints are verified with the keys \
             that signed them ($PADDOCK_DATA_DIR/keys/audit of the installation that wrote it)"
        )
    })?;
    let statement: Statement = keys
        .verify_statement(&jws, TYPE)
        .map_err(|e| format!("the checkpoint {shown} is refused: {e}"))?;
    if let Some(readable) = readable {
        let same = serde_json::from_value::<Statement>(readable).is_ok_and(|r| r == statement);
        if !same {
            return Err(format!(
                "the checkpoint {shown} is refused: its readable statement differs from the \
                 signed one (the file was edited)"
            )
            .into());
        }
    }
    Ok(statement)
}
