//! Parse errors: what was expected, what was found, and where, rendered with a caret.

use std::fmt;

use scimkit_schema::{ScimError, ScimType};

/// A byte range of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    /// The first byte.
    pub start: usize,
    /// One past the last byte (equal to `start` for a position).
    pub end: usize,
}

/// What went wrong while parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Something else was expected at the span; the text names what.
    Expected(&'static str),
    /// An operator that SCIM does not define, e.g. `regex` or `=`.
    UnknownOperator,
    /// A string literal without its closing quote.
    UnterminatedString,
    /// A backslash escape that JSON does not define, or a `\u` escape that is not four hex
    /// digits or is an unpaired surrogate.
    InvalidEscape,
    /// A raw control character (below U+0020) inside a string; JSON requires it escaped.
    ControlCharacter,
    /// A number that is not a JSON number (`01`, `1.`, `.5`, `1e`).
    InvalidNumber,
    /// A value path inside a value path's brackets (`a[b[c pr]]`), which RFC 7644 does not
    /// allow.
    NestedValuePath,
    /// A value filter on a sub-attribute (`name.givenName[...]`).
    ValueFilterOnSubAttribute,
    /// More nested parentheses, `not`s and brackets than the parser's nest limit.
    NestingTooDeep {
        /// The limit.
        limit: usize,
    },
    /// Input longer than the parser's length limit.
    TooLong {
        /// The limit, in bytes.
        limit: usize,
    },
}

/// What the input was parsed as, which decides the `scimType` of a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Grammar {
    /// A `filter` parameter or `valFilter`.
    Filter,
    /// A PATCH `path`.
    PatchPath,
    /// A `sortBy` attribute path or an `attributes` / `excludedAttributes` entry.
    AttrPath,
}

/// A failure to parse a filter or path: its kind, the byte span at fault, and the input.
///
/// `Display` writes one line of explanation, then the input, then a caret line under the
/// span, e.g.
///
/// ```text
/// expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) at byte 9, found `equals`
///   userName equals "bjensen"
///            ^^^^^^
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    kind: ErrorKind,
    span: Span,
    input: String,
    grammar: Grammar,
}

impl ParseError {
    pub(crate) fn new(kind: ErrorKind, span: Span, input: &str, grammar: Grammar) -> Self {
        // Spans are computed in bytes; keep them on character boundaries.
        let start = floor_char(input, span.start.min(input.len()));
        let end = ceil_char(input, span.end.clamp(start, input.len()));
        Self {
            kind,
            span: Span { start, end },
            input: input.to_owned(),
            grammar,
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The bytes at fault.
    pub fn span(&self) -> Span {
        self.span
    }

    /// The byte offset of the fault.
    pub fn offset(&self) -> usize {
        self.span.start
    }

    /// The input that failed to parse.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What was being parsed.
    pub fn grammar(&self) -> Grammar {
        self.grammar
    }

    /// The text at the span, or `None` at the end of the input.
    pub fn found(&self) -> Option<&str> {
        let text = self.input.get(self.span.start..self.span.end).unwrap_or("");
        (self.span.start < self.input.len()).then_some(text)
    }

    /// `invalidFilter` for filters, `invalidPath` for PATCH and attribute paths (RFC 7644
    /// Table 9).
    pub fn scim_type(&self) -> ScimType {
        match self.grammar {
            Grammar::Filter => ScimType::InvalidFilter,
            Grammar::PatchPath | Grammar::AttrPath => ScimType::InvalidPath,
        }
    }

    /// The RFC 7644 §3.12 error response, with the caret rendering in `detail`.
    pub fn to_scim_error(&self) -> ScimError {
        ScimError::typed(self.scim_type(), self.to_string())
    }

    /// The one-line explanation, without the input and caret.
    pub fn message(&self) -> String {
        let what = match self.grammar {
            Grammar::Filter => "filter",
            Grammar::PatchPath => "path",
            Grammar::AttrPath => "attribute path",
        };
        let at = self.span.start;
        let found = match self.found() {
            Some(text) if text.trim().is_empty() && !text.is_empty() => "whitespace".to_owned(),
            Some(text) => format!("`{}`", clip(text)),
            None => "the end of the input".to_owned(),
        };
        match &self.kind {
            ErrorKind::Expected(expected) => {
                format!("invalid {what}: expected {expected} at byte {at}, found {found}")
            }
            ErrorKind::UnknownOperator => format!(
                "invalid {what}: the operator {found} at byte {at} is not supported; use eq, ne, co, sw, ew, gt, ge, lt, le or pr"
            ),
            ErrorKind::UnterminatedString => {
                format!("invalid {what}: the string starting at byte {at} has no closing `\"`")
            }
            ErrorKind::InvalidEscape => {
                format!("invalid {what}: invalid escape {found} at byte {at}")
            }
            ErrorKind::ControlCharacter => {
                let code = self.input[at..].chars().next().map_or(0, u32::from);
                format!(
                    "invalid {what}: control character U+{code:04X} at byte {at} inside a string; escape it (e.g. \\n, \\u0009)"
                )
            }
            ErrorKind::InvalidNumber => {
                // Letters other than an exponent's `e`: a string that lacks its quotes.
                let wordy = self
                    .found()
                    .is_some_and(|t| t.chars().any(|c| c.is_alphabetic() && c != 'e' && c != 'E'));
                let hint = if wordy {
                    "; quote strings (\"…\")"
                } else {
                    ""
                };
                format!("invalid {what}: {found} at byte {at} is not a JSON number{hint}")
            }
            ErrorKind::NestedValuePath => {
                format!(
                    "invalid {what}: value filters cannot nest; found {found} at byte {at} inside `[...]`"
                )
            }
            ErrorKind::ValueFilterOnSubAttribute => {
                format!(
                    "invalid {what}: a value filter `[...]` must follow an attribute, not a sub-attribute (byte {at})"
                )
            }
            ErrorKind::NestingTooDeep { limit } => {
                format!("invalid {what}: nesting deeper than {limit} levels at byte {at}")
            }
            ErrorKind::TooLong { limit } => format!("invalid {what}: longer than {limit} bytes"),
        }
    }
}

fn clip(text: &str) -> &str {
    match text.char_indices().nth(40) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())?;
        if matches!(self.kind, ErrorKind::TooLong { .. }) {
            return Ok(());
        }
        // The input on one line (control characters shown as spaces so the caret lines up),
        // clipped around the span for long inputs.
        const WINDOW: usize = 60;
        let start = floor_char(&self.input, self.span.start.saturating_sub(WINDOW));
        let end = ceil_char(&self.input, (self.span.end + WINDOW).min(self.input.len()));
        let shown: String = self.input[start..end]
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let prefix = if start > 0 { "…" } else { "" };
        let suffix = if end < self.input.len() { "…" } else { "" };
        write!(f, "\n  {prefix}{shown}{suffix}\n  {prefix}")?;
        let lead = self.input[start..self.span.start.max(start)]
            .chars()
            .count();
        let width = self.input[self.span.start..self.span.end.max(self.span.start)]
            .chars()
            .count()
            .max(1);
        write!(f, "{:lead$}{}", "", "^".repeat(width.min(WINDOW)))
    }
}

impl std::error::Error for ParseError {}

impl From<ParseError> for ScimError {
    fn from(e: ParseError) -> Self {
        e.to_scim_error()
    }
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}
