//! The names of audited actions: every value the audit trail's `action` column holds,
//! whether written by the store (sign-ins, reads, staff changes) or by the database's
//! audit triggers (`create`, `update`, `delete` of a row; `purge` of old events).
//!
//! The strings are stored and shown as they are (snake_case), so they never change
//! once written: a new action is a new variant, never a renamed one.

use crate::FieldError;
use std::fmt;

macro_rules! audit_actions {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)+) => {
        /// One kind of audited event.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum AuditAction {
            $($(#[$doc])* $variant,)+
        }

        impl AuditAction {
            /// Every action, in the order declared here (for filters and inventories).
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant,)+];

            /// The name stored in `audit_events.action`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $name,)+
                }
            }

            /// The action stored as `name`, if it is one.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(AuditAction::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

audit_actions! {
    /// A row was inserted (audit trigger).
    Create = "create",
    /// A row was changed; the event lists the changed fields (audit trigger).
    Update = "update",
    /// A row was deleted (audit trigger).
    Delete = "delete",
    /// Events older than the practice's retention were purged from the trail (database
    /// function `audit_purge`).
    Purge = "purge",
    /// Sensitive data was viewed (a chart, an encounter, the audit log itself).
    Read = "read",
    /// The audit log was exported.
    Export = "export",
    /// A session started (sign-in or a switch of practice).
    Login = "login",
    /// A sign-in was refused: wrong password.
    LoginFailed = "login_failed",
    /// Repeated failures locked an account.
    Lockout = "lockout",
    /// A mailed unlock link lifted a lock.
    AccountUnlock = "account_unlock",
    /// A session was ended by its user.
    Logout = "logout",
    /// The password was re-entered for a sensitive action.
    Reauth = "reauth",
    /// The second factor was completed for a session.
    SecondFactor = "second_factor",
    /// Enrolment of a second factor began.
    SecondFactorEnrolStart = "second_factor_enrol_start",
    /// A second factor was confirmed and is in use.
    SecondFactorEnrol = "second_factor_enrol",
    /// A short-lived API token was issued from a session.
    AccessTokenIssue = "access_token_issue",
    /// A password reset was asked for.
    PasswordResetRequest = "password_reset_request",
    /// A password was set through a reset link.
    PasswordReset = "password_reset",
    /// A signed-in user changed their password.
    PasswordChange = "password_change",
    /// An API key was created.
    ApiKeyCreate = "api_key_create",
    /// An API key was revoked.
    ApiKeyRevoke = "api_key_revoke",
    /// Someone was invited to the practice's staff.
    Invite = "invite",
    /// An invitation was withdrawn (by hand, or because its sender lost the right).
    InvitationRevoke = "invitation_revoke",
    /// An invitation was accepted, making a membership.
    InvitationAccept = "invitation_accept",
    /// A custom role was created.
    RoleCreate = "role_create",
    /// A custom role's name or permissions changed.
    RoleUpdate = "role_update",
    /// A member's role changed (promotion or demotion, old and new role recorded).
    RoleChange = "role_change",
    /// A member was deactivated (every session, token and key revoked with it).
    Deactivate = "deactivate",
    /// A deactivated member was let back in.
    Reactivate = "reactivate",
    /// The retention job purged soft-deleted records past their period.
    RetentionPurge = "retention_purge",
}

impl AuditAction {
    /// Parses an action filter sent in `field`, refusing a name the trail never holds.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        Self::from_name(raw.trim()).ok_or_else(|| {
            FieldError::new(
                field,
                "must be an audited action such as update, login or role_change",
            )
        })
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_action_round_trips_through_its_name() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::from_name(action.as_str()), Some(*action));
            assert_eq!(AuditAction::parse("action", action.as_str()), Ok(*action));
            assert_eq!(action.to_string(), action.as_str());
        }
    }

    #[test]
    fn names_are_unique_snake_case_and_fit_the_column() {
        let names: HashSet<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(names.len(), AuditAction::ALL.len());
        for name in names {
            // audit_events.action: text, 1-64 characters.
            assert!((1..=64).contains(&name.len()), "{name}");
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}"
            );
        }
    }

    #[test]
    fn the_trigger_written_actions_are_named_as_the_migrations_write_them() {
        assert_eq!(AuditAction::Create.as_str(), "create");
        assert_eq!(AuditAction::Update.as_str(), "update");
        assert_eq!(AuditAction::Delete.as_str(), "delete");
        assert_eq!(AuditAction::Purge.as_str(), "purge");
    }

    #[test]
    fn an_unknown_action_filter_is_refused_with_the_field_named() {
        assert_eq!(AuditAction::from_name("DROP TABLE"), None);
        let refused = AuditAction::parse("action", "Login").unwrap_err();
        assert_eq!(refused.field, "action");
        assert_eq!(
            AuditAction::parse("action", " login "),
            Ok(AuditAction::Login)
        );
    }
}
