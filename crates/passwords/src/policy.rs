//! The rules a new password must pass, in the order they are checked: length, the
//! breached list shipped with the binary, then zxcvbn strength with the account's own
//! details (email, name, practice name) as words an attacker would try first, and
//! zxcvbn strength again for what is left once those words are cut out.
//!
//! Nothing is trimmed or rewritten: spaces and any Unicode are allowed, as NIST
//! SP 800-63B recommends, so long passphrases are easy to type.

use std::fmt;

use paddock_domain::FieldError;
use zxcvbn::zxcvbn;

use crate::breached::is_breached;

/// Fewest characters (Unicode scalar values) a new password may have.
pub const MIN_LENGTH: usize = 12;
/// Most characters a new password may have (argon2 would take more, people do not).
pub const MAX_LENGTH: usize = 1024;
/// Lowest zxcvbn score (0 to 4) accepted: 3 is "safely unguessable" online.
pub const MIN_ZXCVBN_SCORE: u8 = 3;
/// Shortest piece of a context value (e.g. "riverside" of "jo@riverside.vet") that is
/// also given to zxcvbn on its own.
const MIN_CONTEXT_PART: usize = 3;
/// Shortest context word cut out of a password before judging what is left: shorter
/// ones ("vet", "ann") occur inside too many ordinary words.
const MIN_CUT_WORD: usize = 4;

/// A password that passed [`check_new_password`]; its text is never printed.
#[derive(Clone)]
pub struct NewPassword(String);

impl NewPassword {
    /// The password's text: only for hashing it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(<redacted>)")
    }
}

/// Checks `raw` as a new password for input `field`: 12 to 1024 characters, not in the
/// breached list, and zxcvbn score at least 3 with `context` (the account's email,
/// name, practice name, ...) counted as easy guesses, both for the whole password and
/// for what is left of it once the context words are cut out.
pub fn check_new_password(
    field: &str,
    raw: &str,
    context: &[&str],
) -> Result<NewPassword, FieldError> {
    let chars = raw.chars().count();
    if chars < MIN_LENGTH {
        return Err(FieldError::new(
            field,
            format!(
                "must be at least {MIN_LENGTH} characters; a few unrelated words make a good one"
            ),
        ));
    }
    if chars > MAX_LENGTH {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_LENGTH} characters"),
        ));
    }
    if is_breached(raw) {
        return Err(FieldError::new(
            field,
            "appears in lists of breached passwords; choose another",
        ));
    }
    let words = context_words(context);
    let inputs: Vec<&str> = words.iter().map(String::as_str).collect();
    let entropy = zxcvbn(raw, &inputs);
    if u8::from(entropy.score()) < MIN_ZXCVBN_SCORE {
        let about_context = if mentions_context(&entropy, &inputs) {
            " Avoid your name, email and practice name."
        } else {
            ""
        };
        return Err(FieldError::new(
            field,
            format!("is too easy to guess. {}{about_context}", advice(&entropy)),
        ));
    }
    // zxcvbn scores any password of three or more pieces at least 3 (its guess count
    // has a floor of 10^8 for them), so "Riverside2024!!" passes at Riverside. What an
    // attacker who knows the account would not guess must be strong on its own.
    if let Some(rest) = without_context(raw, &inputs) {
        let rest_entropy = zxcvbn(&rest, &inputs);
        if u8::from(rest_entropy.score()) < MIN_ZXCVBN_SCORE {
            return Err(FieldError::new(
                field,
                format!(
                    "is too easy to guess for someone who knows your name, email or practice name. {}",
                    advice(&rest_entropy)
                ),
            ));
        }
    }
    Ok(NewPassword(raw.to_owned()))
}

/// zxcvbn's warning and suggestions, or a generic suggestion when it has none.
fn advice(entropy: &zxcvbn::Entropy) -> String {
    entropy
        .feedback()
        .map(|feedback| feedback.to_string().trim().to_owned())
        .filter(|advice| !advice.is_empty())
        .unwrap_or_else(|| "Add another word or two. Uncommon words are better.".to_owned())
}

/// The lower-cased password with every context word of 4 or more characters cut
/// out (longest first), or `None` when none occurs in it.
fn without_context(raw: &str, words: &[&str]) -> Option<String> {
    let mut rest = raw.to_lowercase();
    let mut cut = false;
    let mut words: Vec<&str> = words
        .iter()
        .copied()
        .filter(|word| word.chars().count() >= MIN_CUT_WORD)
        .collect();
    words.sort_by_key(|word| std::cmp::Reverse(word.len()));
    for word in words {
        if rest.contains(word) {
            rest = rest.replace(word, "");
            cut = true;
        }
    }
    cut.then_some(rest)
}

/// Each context value whole, plus its alphanumeric pieces ("jo.smith@riverside.vet"
/// gives "jo.smith@riverside.vet", "smith", "riverside", "vet"), lower-cased.
fn context_words(context: &[&str]) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for value in context {
        let value = value.trim().to_lowercase();
        if value.is_empty() {
            continue;
        }
        for part in value.split(|c: char| !c.is_alphanumeric()) {
            if part.chars().count() >= MIN_CONTEXT_PART && !words.iter().any(|w| w == part) {
                words.push(part.to_owned());
            }
        }
        if !words.contains(&value) {
            words.push(value);
        }
    }
    words
}

/// Whether zxcvbn's cheapest guess used one of the account's own words.
fn mentions_context(entropy: &zxcvbn::Entropy, inputs: &[&str]) -> bool {
    use zxcvbn::matching::patterns::MatchPattern;
    entropy.sequence().iter().any(|m| {
        matches!(&m.pattern, MatchPattern::Dictionary(d)
            if inputs.contains(&d.matched_word.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RIVERSIDE: &[&str] = &[
        "jo.smith@riverside.vet",
        "Jo Smith",
        "Riverside Veterinary Clinic",
    ];

    fn rejected(raw: &str, context: &[&str]) -> String {
        match check_new_password("password", raw, context) {
            Ok(_) => panic!("{raw:?} was accepted"),
            Err(error) => {
                assert_eq!(error.field, "password");
                error.message
            }
        }
    }

    #[test]
    fn shorter_than_12_characters_is_refused() {
        let message = rejected("Tr0ub4dor&3", &[]);
        assert!(message.contains("at least 12 characters"), "{message}");
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        // 11 characters, 22 bytes: still too short.
        let message = rejected("ééééééééééé", &[]);
        assert!(message.contains("at least 12"), "{message}");
    }

    #[test]
    fn longer_than_1024_characters_is_refused() {
        let message = rejected(&"correct horse battery staple ".repeat(40), &[]);
        assert!(message.contains("at most 1024 characters"), "{message}");
    }

    #[test]
    fn breached_password_is_refused_whatever_its_case() {
        for raw in ["qwerty123456", "1QAZ2WSX3EDC", "LeaveMeAlone"] {
            let message = rejected(raw, &[]);
            assert_eq!(
                message,
                "appears in lists of breached passwords; choose another"
            );
        }
    }

    #[test]
    fn weak_password_is_refused_with_zxcvbn_advice() {
        let message = rejected("abcabcabcabcabc", &[]);
        assert!(message.starts_with("is too easy to guess."), "{message}");
        assert!(message.contains("Repeats like"), "{message}");
    }

    #[test]
    fn password_built_on_the_practice_name_is_refused() {
        let raw = "Riverside2024!!";
        // zxcvbn alone scores it 3; only the account's context makes it weak.
        assert!(check_new_password("password", raw, &[]).is_ok());
        let message = rejected(raw, RIVERSIDE);
        assert!(
            message.starts_with("is too easy to guess for someone who knows your name"),
            "{message}"
        );
        assert!(message.contains("Add another word or two"), "{message}");
    }

    #[test]
    fn password_built_on_the_users_name_is_refused_only_with_context() {
        let raw = "JoSmith#Clinic";
        assert!(check_new_password("password", raw, &[]).is_ok());
        let message = rejected(raw, RIVERSIDE);
        assert!(message.starts_with("is too easy to guess"), "{message}");
    }

    #[test]
    fn weak_context_match_says_to_avoid_personal_details() {
        let message = rejected("Riverside!2024", RIVERSIDE);
        assert!(message.starts_with("is too easy to guess. "), "{message}");
        assert!(
            message.ends_with("Avoid your name, email and practice name."),
            "{message}"
        );
    }

    #[test]
    fn passphrase_that_merely_contains_a_context_word_is_accepted() {
        // "smith" is cut out; "black forge anvil hammer" is still strong.
        assert!(check_new_password("password", "blacksmith forge anvil hammer", RIVERSIDE).is_ok());
    }

    #[test]
    fn strong_passphrase_is_accepted() {
        let password =
            check_new_password("password", "marble otter kettle sunrise", RIVERSIDE).unwrap();
        assert_eq!(password.expose(), "marble otter kettle sunrise");
    }

    #[test]
    fn field_name_is_the_callers() {
        let error = check_new_password("new_password", "short", &[]).unwrap_err();
        assert_eq!(error.field, "new_password");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let password = check_new_password("password", "marble otter kettle sunrise", &[]).unwrap();
        let printed = format!("{password:?}");
        assert_eq!(printed, "NewPassword(<redacted>)");
        assert!(!printed.contains("marble"));
    }

    #[test]
    fn context_words_are_cut_longest_first_and_case_insensitively() {
        let words = context_words(RIVERSIDE);
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        assert_eq!(
            without_context("XJo.Smith@Riverside.vetX", &words).as_deref(),
            Some("xx")
        );
        assert_eq!(
            without_context("RiversideVet2024", &words).as_deref(),
            Some("vet2024")
        );
        assert_eq!(without_context("marble otter kettle sunrise", &words), None);
    }

    #[test]
    fn context_words_split_emails_and_names() {
        assert_eq!(
            context_words(&["Jo.Smith@Riverside.vet", " ", "Riverside"]),
            ["smith", "riverside", "vet", "jo.smith@riverside.vet"]
        );
    }
}
