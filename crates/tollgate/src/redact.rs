//! Connection URLs as error messages, logs and banners may show them.

/// `url` with its secrets hidden: the password of its user info
/// (`postgres://app:***@db/x`) and the value of every query option whose
/// name, percent-decoded and in any case, contains `pass`, `pwd`, `secret`
/// or `token`, or is `auth` (`?sentinel_password=***`, a Unix socket's
/// `?pass=***`). Every Tollgate crate prints the URLs it is given through
/// this.
///
/// The user info ends at the last `@`, so a malformed URL whose password
/// holds a raw `?`, `/` or `#` is still hidden whole; at worst more than the
/// password is hidden, never less. An `@` after a `/` or `?` that no `:`
/// precedes is in the path or query, not after user info.
///
/// ```
/// use tollgate::redact_url;
/// assert_eq!(redact_url("postgres://app:s3cret@db:5432/x"), "postgres://app:***@db:5432/x");
/// assert_eq!(redact_url("redis://:pa?ss@10.0.0.1"), "redis://:***@10.0.0.1");
/// assert_eq!(
///     redact_url("redis+sentinel://10.0.0.1/main?sentinel_password=s3cret"),
///     "redis+sentinel://10.0.0.1/main?sentinel_password=***"
/// );
/// assert_eq!(redact_url("sqlite:///var/lib/tollgate.db"), "sqlite:///var/lib/tollgate.db");
/// ```
pub fn redact_url(url: &str) -> String {
    // Only a scheme (a letter, then letters, digits, `+`, `-`, `.`) starts an
    // authority: a `://` inside the query does not.
    let (scheme, rest) = match url.find("://") {
        Some(end) if is_scheme(&url[..end]) => url.split_at(end + 3),
        _ => ("", url),
    };
    // Query options first: a password there may hold an `@`, which would
    // pass for the end of user info.
    let rest = hide_secret_options(rest);
    let mut shown = scheme.to_owned();
    let user_info = rest.rsplit_once('@').filter(|(user_info, _)| {
        let user = user_info
            .split_once(':')
            .map_or(*user_info, |(user, _)| user);
        !user.contains(['/', '?', '#'])
    });
    match user_info {
        Some((user_info, host)) => {
            match user_info.split_once(':') {
                Some((user, _)) => shown.extend([user, ":***@"]),
                None => shown.extend([user_info, "@"]),
            }
            shown.push_str(host);
        }
        None => shown.push_str(&rest),
    }
    shown
}

/// Words in option names that hold secrets, as found in connection URLs
/// (`pass` covers `password`, `passwd` and redis's Unix-socket `pass`).
const SECRET_OPTIONS: [&str; 4] = ["pass", "pwd", "secret", "token"];

fn is_scheme(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// `rest` with the value of every query option whose name (percent-decoded,
/// in any case) names a secret replaced by `***`.
fn hide_secret_options(rest: &str) -> String {
    let Some((path, query)) = rest.split_once('?') else {
        return rest.to_owned();
    };
    let mut shown = String::with_capacity(rest.len());
    shown.extend([path, "?"]);
    for (i, option) in query.split('&').enumerate() {
        if i > 0 {
            shown.push('&');
        }
        let secret = option.split_once('=').filter(|(name, _)| {
            let name = percent_encoding::percent_decode_str(name)
                .decode_utf8_lossy()
                .to_ascii_lowercase();
            name == "auth" || SECRET_OPTIONS.iter().any(|word| name.contains(word))
        });
        match secret {
            Some((name, _)) => shown.extend([name, "=***"]),
            None => shown.push_str(option),
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_hidden_wherever_they_are() {
        for (url, shown) in [
            ("postgres://u:secret@h/db", "postgres://u:***@h/db"),
            ("postgres://u@h/db", "postgres://u@h/db"),
            ("redis://:secret@127.0.0.1", "redis://:***@127.0.0.1"),
            (
                "redis+sentinel://:secret@10.0.0.1/svc?sentinel_password=secret",
                "redis+sentinel://:***@10.0.0.1/svc?sentinel_password=***",
            ),
            (
                "postgres://db/x?sslmode=require&PASSWORD=secret&x",
                "postgres://db/x?sslmode=require&PASSWORD=***&x",
            ),
            // Malformed: raw `?`, `/`, `@` and `#` inside the password.
            ("redis://:se?cret@h:6379/0", "redis://:***@h:6379/0"),
            ("redis://u:se/cr@et#@h", "redis://u:***@h"),
            ("u:secret@h:6379", "u:***@h:6379"),
            // Malformed: a raw `@` in a query password, with no user info.
            (
                "postgres://h/db?password=p@ss",
                "postgres://h/db?password=***",
            ),
            ("redis://h?x=1&password=a:b@c", "redis://h?x=1&password=***"),
            // A Unix socket's password is an option.
            (
                "redis+unix:///run/redis.sock?db=1&pass=s3cret",
                "redis+unix:///run/redis.sock?db=1&pass=***",
            ),
            (
                "unix:///run/r.sock?AUTH=s3cret",
                "unix:///run/r.sock?AUTH=***",
            ),
            // ... after a port, where the `:` passed for user info's.
            (
                "postgres://h:5432/db?password=p@ss",
                "postgres://h:5432/db?password=***",
            ),
            (
                "redis://[::1]:6379?password=a@b",
                "redis://[::1]:6379?password=***",
            ),
            // Option names percent-encoded, and other words for secrets.
            (
                "postgres://h/db?pass%77ord=secret",
                "postgres://h/db?pass%77ord=***",
            ),
            (
                "postgres://h/db?Token=abc&sslmode=require&pwd=x",
                "postgres://h/db?Token=***&sslmode=require&pwd=***",
            ),
            // A `://` inside the query starts no authority.
            (
                "sqlite:x.db?cb=http://h&password=s",
                "sqlite:x.db?cb=http://h&password=***",
            ),
            // Nothing secret: unchanged.
            ("sqlite://x.db", "sqlite://x.db"),
            (
                "sqlite:///tmp/a@b/tollgate.db",
                "sqlite:///tmp/a@b/tollgate.db",
            ),
            ("memory://?max_keys=5", "memory://?max_keys=5"),
            ("", ""),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }
}
