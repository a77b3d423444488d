//! HTML for the console: escaping and the page frame. Every value that did not come from
//! this file goes through [`esc`] before it reaches a page.

use super::Session;

/// `text` with the five HTML-special characters escaped, safe in element content and in
/// double- or single-quoted attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A path segment percent-encoded for a link (tenant names and ids come from clients).
pub(crate) fn seg(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// A query value percent-encoded for a link.
pub(crate) fn query_value(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn head(title: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · scimkit console</title>\
         <link rel=\"stylesheet\" href=\"/console/assets/console.css\">\
         <script src=\"/console/assets/console.js\" defer></script></head>",
        esc(title)
    )
}

/// A page without navigation (login, refusals).
pub(crate) fn bare(title: &str, body: &str) -> String {
    format!(
        "{}<body><header><span class=\"brand\">scimkit console</span></header>\
         <main id=\"main\"><h1>{}</h1>{body}</main></body></html>",
        head(title),
        esc(title)
    )
}

/// The login page, with an error when a login failed.
pub(crate) fn login(error: Option<&str>) -> String {
    let error = error
        .map(|e| {
            format!(
                "<p class=\"error\" id=\"login-error\" role=\"alert\">{}</p>",
                esc(e)
            )
        })
        .unwrap_or_default();
    bare(
        "Log in",
        &format!(
            "{error}<form class=\"stack\" method=\"post\" action=\"/console/login\">\
             <label for=\"token\">Console token</label>\
             <input type=\"password\" id=\"token\" name=\"token\" class=\"wide\" autocomplete=\"off\" required>\
             <p class=\"muted\">Create one with <code>scimkit token create --tenant default --scope console</code> \
             (every tenant) or <code>--tenant NAME</code> (that tenant only).</p>\
             <button type=\"submit\" id=\"login\">Log in</button></form>"
        ),
    )
}

/// A page with the navigation of a logged-in session; `tenant` adds the tenant's sections.
/// `here` is the visited path's segments after `/console`: its section's link is marked as
/// the current page for screen readers and styles.
pub(crate) fn layout(
    title: &str,
    tenant: Option<&str>,
    session: &Session,
    here: &[String],
    body: &str,
) -> String {
    let current = |is: bool| if is { " aria-current=\"page\"" } else { "" };
    let mut nav = String::new();
    if session.operator() {
        nav.push_str(&format!(
            "<a href=\"/console\"{}>Tenants</a>",
            current(here.is_empty())
        ));
    }
    if let Some(t) = tenant {
        let base = format!("/console/t/{}", seg(t));
        for (path, label) in [
            ("", "Overview"),
            ("/users", "Users"),
            ("/groups", "Groups"),
            ("/log", "Log"),
            ("/events", "Events"),
            ("/health", "Health"),
        ] {
            let section = path.trim_start_matches('/');
            let is_here = here.len() >= 2
                && here[0] == "t"
                && here[1] == t
                && here.get(2).map_or("", String::as_str) == section;
            nav.push_str(&format!(
                "<a href=\"{base}{path}\"{}>{label}</a>",
                current(is_here)
            ));
        }
        nav.push_str(&format!(
            "<span class=\"muted\">tenant <strong id=\"tenant-name\">{}</strong></span>",
            esc(t)
        ));
    }
    format!(
        "{}<body><a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header><a class=\"brand\" href=\"/console\">scimkit console</a>\
         <nav aria-label=\"Sections\">{nav}</nav>\
         <form method=\"post\" action=\"/console/logout\">{}<button type=\"submit\" id=\"logout\">Log out</button></form>\
         </header><main id=\"main\"><h1>{}</h1>{body}</main></body></html>",
        head(title),
        csrf_field(session),
        esc(title)
    )
}

/// The hidden form field that proves a form came from a console page.
pub(crate) fn csrf_field(session: &Session) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(session.csrf())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_every_special_character() {
        assert_eq!(
            esc(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(esc("plain ünïcode"), "plain ünïcode");
    }

    #[test]
    fn segments_and_query_values_are_percent_encoded() {
        assert_eq!(seg("a b/c?d"), "a%20b%2Fc%3Fd");
        assert_eq!(query_value("userName eq \"x\""), "userName+eq+%22x%22");
    }
}
