//! Command-line options of the form `--name value` or `--name=value`.

/// Splits `args` into `(name, value)` pairs; every option takes a value.
pub fn pairs(args: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if !arg.starts_with("--") {
            return Err(format!("unexpected argument {arg:?}"));
        }
        let (name, value) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), value.to_owned()),
            None => {
                let value = args
                    .next()
                    .ok_or_else(|| format!("{arg} needs a value"))?
                    .clone();
                (arg.clone(), value)
            }
        };
        out.push((name, value));
    }
    Ok(out)
}

/// `raw` as a whole number from `min` to `max`.
pub fn number<T>(name: &str, raw: &str, min: T, max: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    raw.parse::<T>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("{name} must be a whole number from {min} to {max}, not {raw:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn splits_both_spellings() {
        assert_eq!(
            pairs(&args(&["--a", "1", "--b=2"])).unwrap(),
            vec![("--a".into(), "1".into()), ("--b".into(), "2".into())]
        );
        assert!(pairs(&args(&["--a"])).is_err());
        assert!(pairs(&args(&["a"])).is_err());
        assert_eq!(number("--n", "5", 1u32, 9), Ok(5));
        assert!(number("--n", "0", 1u32, 9).is_err());
        assert!(number("--n", "x", 1u32, 9).is_err());
    }
}
