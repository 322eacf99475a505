//! `paddock practice create`.

use super::CommandError;
use crate::cli::PracticeCreateArgs;
use crate::config::{ADMIN_DATABASE_URL, ADMIN_PASSWORD, env, require_env};
use paddock_domain::{DisplayName, Email, FieldErrors, PracticeName};
use paddock_passwords::{HashParams, PasswordHasher, check_new_password};
use paddock_store::AdminDb;
use paddock_store::staff::practices::{self, NewPractice};
use std::process::ExitCode;

pub async fn create(args: PracticeCreateArgs) -> Result<ExitCode, CommandError> {
    let raw_password = match env(ADMIN_PASSWORD) {
        Some(password) => password,
        None => prompt_password()?,
    };
    let mut errors = FieldErrors::default();
    let name = errors.check(PracticeName::parse("name", &args.name));
    let email = errors.check(Email::parse("admin_email", &args.admin_email));
    let default_name = args
        .admin_email
        .split('@')
        .next()
        .unwrap_or_default()
        .to_owned();
    let admin_name = errors.check(DisplayName::parse(
        "admin_name",
        args.admin_name.as_deref().unwrap_or(&default_name),
    ));
    let context = [
        args.admin_email.as_str(),
        args.name.as_str(),
        args.admin_name.as_deref().unwrap_or_default(),
    ];
    let password = errors.check(check_new_password(
        "admin_password",
        &raw_password,
        &context,
    ));
    let (Some(name), Some(admin_email), Some(admin_name), Some(admin_password)) =
        (name, email, admin_name, password)
    else {
        for error in &errors.0 {
            eprintln!("paddock: invalid {}: {}", error.field, error.message);
        }
        return Ok(ExitCode::from(2));
    };
    let url = require_env(ADMIN_DATABASE_URL, "an owner or superuser connection")?;
    let admin = AdminDb::connect(&url).await?;
    let hasher = PasswordHasher::new(HashParams::default(), 1)?;
    let created = practices::create(
        &admin,
        &hasher,
        NewPractice {
            name,
            admin_email,
            admin_name,
            admin_password,
            link_existing_user: true,
        },
    )
    .await?;
    admin.close().await;
    if created.existing_user {
        eprintln!(
            "paddock: the admin already had an account; it was linked and keeps its password"
        );
    }
    println!(
        "{}",
        serde_json::json!({ "practice_id": created.practice_id, "user_id": created.user_id })
    );
    Ok(ExitCode::SUCCESS)
}

fn prompt_password() -> Result<String, CommandError> {
    let first = rpassword::prompt_password("Admin password (at least 12 characters): ")?;
    let second = rpassword::prompt_password("Repeat the password: ")?;
    if first != second {
        return Err("the passwords do not match".into());
    }
    Ok(first)
}
