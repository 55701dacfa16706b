//! "Did you mean": the name a misspelled one was likely meant to be.
//!
//! Catalog files, request bodies and config files refuse an unknown field
//! or name with serde's `` unknown field `titel`, expected one of `status`,
//! `title`, … ``; [`suggested`] adds the name it was likely meant to be.

use std::borrow::Cow;

/// `message` with `` (did you mean `title`?) `` added when it is serde's
/// refusal of an unknown field or variant and one of the names it expects
/// is near enough to the one given to be a slip of the keys (`titel` is
/// `title`, `later` `after`: Jaro-Winkler similarity of 0.85 or more, in
/// any case); else `message` as it is.
///
/// ```
/// use tollgate::suggest::suggested;
/// let refusal = "unknown field `titel`, expected one of `status`, `title`";
/// assert_eq!(
///     suggested(refusal),
///     "unknown field `titel`, expected one of `status`, `title` (did you mean `title`?)"
/// );
/// let refusal = "unknown field `colour`, expected `status` or `title`";
/// assert_eq!(suggested(refusal), refusal);
/// ```
pub fn suggested(message: &str) -> Cow<'_, str> {
    match meant(message) {
        Some(name) => Cow::Owned(format!("{message} (did you mean `{name}`?)")),
        None => Cow::Borrowed(message),
    }
}

/// The name a misspelled one was meant to be, from serde's refusal of an
/// unknown name (`` unknown field `titel`, expected one of `status`,
/// `title`, … ``): see [`nearest`].
fn meant(message: &str) -> Option<&str> {
    fn named(text: &str) -> Option<(&str, &str)> {
        text.strip_prefix('`')?.split_once('`')
    }
    let rest = message
        .strip_prefix("unknown field ")
        .or_else(|| message.strip_prefix("unknown variant "))?;
    let (given, rest) = named(rest)?;
    let expected = rest
        .strip_prefix(", expected one of ")
        .or_else(|| rest.strip_prefix(", expected "))?;
    let names = std::iter::successors(named(expected), |(_, after)| {
        named(
            after
                .strip_prefix(", ")
                .or_else(|| after.strip_prefix(" or "))?,
        )
    });
    nearest(given, names.map(|(name, _)| name))
}

/// Of `names`, the one nearest to `given`, when near enough to be a slip of
/// the keys (`titel` is `title`, `mesage` `message`, `later` `after`,
/// `rate_limit` `rate_limit_exceeded`, `Nevr` `never`): by Jaro-Winkler
/// similarity, which weighs a shared start, as clap's suggestions do, in
/// any case.
pub(crate) fn nearest<'n>(given: &str, names: impl Iterator<Item = &'n str>) -> Option<&'n str> {
    // No name is this long (a code has 63 characters at most), and the
    // comparison's cost grows with the square of the length.
    if given.len() > 128 {
        return None;
    }
    let given = given.to_lowercase();
    names
        .map(|name| (name, strsim::jaro_winkler(&given, &name.to_lowercase())))
        .filter(|(_, near)| *near >= 0.85)
        .fold(None, |best: Option<(&str, f64)>, (name, near)| match best {
            Some((_, nearest)) if nearest >= near => best,
            _ => Some((name, near)),
        })
        .map(|(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A misspelled field or name is told the one it was likely meant to
    /// be; one nothing is near, none.
    #[test]
    fn a_misspelled_name_is_told_the_one_meant() {
        let fields = "expected one of `status`, `title`, `message`, `message_only`";
        for (given, meant_name) in [
            ("titel", Some("title")),
            ("mesage", Some("message")),
            ("Title", Some("title")),
            ("message-only", Some("message_only")),
            ("colour", None),
            ("x", None),
        ] {
            let message = format!("unknown field `{given}`, {fields}");
            assert_eq!(meant(&message), meant_name, "{given}");
        }
        let retry = "unknown variant `later`, expected one of `never`, `after`, `backoff`";
        assert_eq!(meant(retry), Some("after"));
        assert_eq!(
            meant("unknown variant `Nevr`, expected `never` or `after`"),
            Some("never")
        );
        assert_eq!(meant("unknown field `titel`, there are no fields"), None);
        assert_eq!(
            meant("invalid type: string \"400\", expected `title`"),
            None
        );
        let long = format!("unknown field `{}`, {fields}", "titel".repeat(100_000));
        assert_eq!(meant(&long), None);
    }
}
