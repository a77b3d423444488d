//! The parser: filters (RFC 7644 §3.4.2.2), PATCH paths (§3.5.2), and attribute paths and
//! lists (§3.4.2.3, §3.4.2.5, §3.10), built from nom combinators.
//!
//! The grammar is parsed by recursive descent with one token of lookahead, so every byte is
//! looked at a bounded number of times: parsing takes linear time in the input length.
//! Recursion happens only at `(`, `not (` and `[`, and is bounded by
//! [`Parser::nest_limit`], so no input can overflow the stack.

use nom::bytes::complete::tag;
use nom::character::complete::{digit1, multispace0, one_of};
use nom::combinator::{opt, recognize};
use nom::sequence::pair;
use nom::{IResult, Parser as _};

use crate::ast::{AttrExpr, AttrPath, CompValue, CompareOp, Filter, PatchPath, ValuePath};
use crate::error::{ErrorKind, Grammar, ParseError, Span};

/// The default [`Parser::nest_limit`].
pub const DEFAULT_NEST_LIMIT: usize = 64;
/// The default [`Parser::max_len`], in bytes.
pub const DEFAULT_MAX_LEN: usize = 64 * 1024;

/// A configured parser. [`crate::parse`] and friends use the defaults.
///
/// ```
/// let parser = scimkit_filter::Parser::new().nest_limit(8).max_len(1024);
/// let filter = parser.parse_filter(r#"userName eq "bjensen""#)?;
/// assert_eq!(filter.to_string(), r#"userName eq "bjensen""#);
/// # Ok::<(), scimkit_filter::ParseError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parser {
    nest_limit: usize,
    max_len: usize,
    bare_strings: bool,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new()
    }
}

impl Parser {
    /// A parser with the default limits: nesting 64 levels, 64 KiB of input.
    pub const fn new() -> Self {
        Self {
            nest_limit: DEFAULT_NEST_LIMIT,
            max_len: DEFAULT_MAX_LEN,
            bare_strings: false,
        }
    }

    /// Also read an unquoted word as a string comparison value (`externalId eq jyoung`, `id
    /// eq 54D382A4-2050-…`), as Microsoft's Entra ID documentation shows; the word ends at
    /// whitespace, `)` or `]`. `true`, `false`, `null` and numbers keep their meaning. Off
    /// by default: RFC 7644 requires strings to be quoted.
    pub const fn bare_strings(mut self, on: bool) -> Self {
        self.bare_strings = on;
        self
    }

    /// The deepest nesting of parentheses, `not (…)` and `[…]` accepted.
    pub const fn nest_limit(mut self, limit: usize) -> Self {
        self.nest_limit = limit;
        self
    }

    /// The longest input accepted, in bytes.
    pub const fn max_len(mut self, bytes: usize) -> Self {
        self.max_len = bytes;
        self
    }

    /// Parses a filter (the `filter` query parameter or `SearchRequest` member).
    pub fn parse_filter(&self, input: &str) -> Result<Filter, ParseError> {
        self.run(input, Grammar::Filter, |st, i| {
            let (i, _) = ws(i)?;
            let (i, filter) = st.or_expr(i, 0, false)?;
            let (i, _) = ws(i)?;
            st.end(i, "`and`, `or` or the end of the filter")?;
            Ok(filter)
        })
    }

    /// Parses a PATCH `path`: `attrPath`, `valuePath` or `valuePath.subAttr`.
    pub fn parse_patch_path(&self, input: &str) -> Result<PatchPath, ParseError> {
        self.run(input, Grammar::PatchPath, |st, i| {
            let (i, _) = ws(i)?;
            let (i, attr) = st.attr_path_for(i, "an attribute name")?;
            let (i, filter, sub_attr) = if let Some(after) = i.strip_prefix('[') {
                if attr.sub_attr.is_some() {
                    return Err(st.fail_at(i, ErrorKind::ValueFilterOnSubAttribute, 1));
                }
                st.depth_check(i, 1)?;
                let (after, _) = ws(after)?;
                let (after, filter) = st.or_expr(after, 1, true)?;
                let (after, _) = ws(after)?;
                let Some(after) = after.strip_prefix(']') else {
                    return Err(st.after_term(after, "`and`, `or` or `]`"));
                };
                let (after, sub) = match after.strip_prefix('.') {
                    Some(rest) => {
                        let (rest, name) = st.attr_name(rest, "a sub-attribute name after `].`")?;
                        (rest, Some(name.to_owned()))
                    }
                    None => (after, None),
                };
                (after, Some(filter), sub)
            } else {
                (i, None, None)
            };
            let (i, _) = ws(i)?;
            if i.starts_with('[') {
                return Err(st.expected(
                    i,
                    "the end of the path; a value filter `[` must follow the attribute name without a space",
                ));
            }
            let what = if filter.is_some() || attr.sub_attr.is_some() {
                "the end of the path"
            } else {
                "`[` or the end of the path"
            };
            st.end(i, what)?;
            Ok(PatchPath {
                attr,
                filter,
                sub_attr,
            })
        })
    }

    /// Parses one attribute path, as in `sortBy` (`[URI ":"] ATTRNAME ["." ATTRNAME]`).
    pub fn parse_attr_path(&self, input: &str) -> Result<AttrPath, ParseError> {
        self.run(input, Grammar::AttrPath, |st, i| {
            let (i, _) = ws(i)?;
            let (i, path) = st.attr_path_for(i, "an attribute name")?;
            let (i, _) = ws(i)?;
            st.end(i, "the end of the attribute path")?;
            Ok(path)
        })
    }

    /// Parses a comma-separated list of attribute paths, as in `attributes` and
    /// `excludedAttributes`. Whitespace around entries is allowed; empty entries are skipped.
    pub fn parse_attr_list(&self, input: &str) -> Result<Vec<AttrPath>, ParseError> {
        self.run(input, Grammar::AttrPath, |st, mut i| {
            let mut out = Vec::new();
            loop {
                (i, _) = ws(i)?;
                if let Some(rest) = i.strip_prefix(',') {
                    i = rest;
                    continue;
                }
                if i.is_empty() {
                    return Ok(out);
                }
                let (rest, path) = st.attr_path_for(i, "an attribute name")?;
                out.push(path);
                let (rest, _) = ws(rest)?;
                match rest.strip_prefix(',') {
                    Some(rest) => i = rest,
                    None if rest.is_empty() => return Ok(out),
                    None => return Err(st.expected(rest, "`,` or the end of the list")),
                }
            }
        })
    }

    fn run<'a, T>(
        &self,
        input: &'a str,
        grammar: Grammar,
        body: impl FnOnce(&State<'a>, &'a str) -> Result<T, Fail>,
    ) -> Result<T, ParseError> {
        if input.len() > self.max_len {
            let span = Span {
                start: self.max_len,
                end: input.len(),
            };
            return Err(ParseError::new(
                ErrorKind::TooLong {
                    limit: self.max_len,
                },
                span,
                input,
                grammar,
            ));
        }
        let state = State {
            nest_limit: self.nest_limit,
            bare_strings: self.bare_strings,
            _input: std::marker::PhantomData,
        };
        body(&state, input).map_err(|fail| {
            let start = input.len() - fail.rest_len;
            let end = (start + fail.len).min(input.len());
            ParseError::new(fail.kind, Span { start, end }, input, grammar)
        })
    }
}

/// A failure inside the parser: the kind, where it happened (as the length of the input that
/// was left), and how many bytes it covers.
#[derive(Debug)]
pub(crate) struct Fail {
    kind: ErrorKind,
    rest_len: usize,
    len: usize,
}

impl<'a> nom::error::ParseError<&'a str> for Fail {
    fn from_error_kind(input: &'a str, _kind: nom::error::ErrorKind) -> Self {
        Self {
            // nom builds these on every failed alternative (`opt`), so keep them cheap; the
            // parser replaces them with a precise error before one reaches the user.
            kind: ErrorKind::Expected("valid input"),
            rest_len: input.len(),
            len: 0,
        }
    }

    fn append(_input: &'a str, _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

type PResult<'a, T> = Result<(&'a str, T), Fail>;

/// Unwraps nom's `Err` wrapper: every parser here is complete-input.
fn nom_ok<T>(r: IResult<&str, T, Fail>) -> Result<(&str, T), Fail> {
    r.map_err(|e| match e {
        nom::Err::Error(f) | nom::Err::Failure(f) => f,
        nom::Err::Incomplete(_) => unreachable!("complete parsers never ask for more input"),
    })
}

/// Whitespace between tokens: space, tab, CR, LF (what nom's `multispace0` takes).
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn ws(i: &str) -> PResult<'_, &str> {
    // Most tokens are not followed by whitespace: skip nom's scan then.
    if !i.as_bytes().first().is_some_and(|&b| is_ws(b)) {
        return Ok((i, ""));
    }
    nom_ok(multispace0(i))
}

/// Strips one whitespace byte (where the ABNF has `SP`).
fn space(i: &str) -> Option<&str> {
    match i.as_bytes().first() {
        Some(b' ' | b'\t' | b'\r' | b'\n') => Some(&i[1..]),
        _ => None,
    }
}

/// Bytes that end the plain run of a string literal: `"`, `\\` and control characters.
const STRING_STOP: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// `nameChar` bytes (`ALPHA / DIGIT / "-" / "_"`), as a table for the hot scanning loops.
const NAME_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        b += 1;
    }
    table
};

/// The number of `nameChar` bytes at the start of `b`.
fn name_len(b: &[u8]) -> usize {
    let mut n = 0;
    while n < b.len() && NAME_BYTES[usize::from(b[n])] {
        n += 1;
    }
    n
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Bytes of a schema URN prefix: RFC 3986 URI characters without the ones the filter
/// grammar uses (brackets, parentheses, quotes, whitespace).
const URN_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric();
        b += 1;
    }
    let extra = b":._-$+%=@!~*',/?#&;";
    let mut i = 0;
    while i < extra.len() {
        table[extra[i] as usize] = true;
        i += 1;
    }
    table
};

/// The length of the token at the start of `i`, for error spans: a quoted string, a word, or
/// one character.
fn token_len(i: &str) -> usize {
    let Some(first) = i.chars().next() else {
        return 0;
    };
    if first == '"' {
        let mut escaped = false;
        for (n, c) in i.char_indices().skip(1) {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => return n + 1,
                _ => escaped = false,
            }
        }
        return i.len();
    }
    let word = i
        .char_indices()
        .find(|&(_, c)| c.is_whitespace() || "()[]\",".contains(c))
        .map_or(i.len(), |(n, _)| n);
    if word == 0 { first.len_utf8() } else { word }
}

fn starts_with_ci(i: &str, word: &str) -> bool {
    i.len() >= word.len() && i.as_bytes()[..word.len()].eq_ignore_ascii_case(word.as_bytes())
}

struct State<'a> {
    nest_limit: usize,
    bare_strings: bool,
    _input: std::marker::PhantomData<&'a str>,
}

impl<'a> State<'a> {
    fn fail_at(&self, at: &'a str, kind: ErrorKind, len: usize) -> Fail {
        Fail {
            kind,
            rest_len: at.len(),
            len,
        }
    }

    fn expected(&self, at: &'a str, what: &'static str) -> Fail {
        self.fail_at(at, ErrorKind::Expected(what), token_len(at))
    }

    fn end(&self, i: &'a str, what: &'static str) -> Result<(), Fail> {
        if i.is_empty() {
            Ok(())
        } else {
            Err(self.after_term(i, what))
        }
    }

    /// The error for unexpected input after a complete term: a logical keyword written
    /// without the space before it gets its own message.
    fn after_term(&self, i: &'a str, what: &'static str) -> Fail {
        match keyword_at(i) {
            Some((Logical::And, _)) => self.expected(i, "a space before `and`"),
            Some((Logical::Or, _)) => self.expected(i, "a space before `or`"),
            None => self.expected(i, what),
        }
    }

    fn depth_check(&self, at: &'a str, depth: usize) -> Result<(), Fail> {
        if depth > self.nest_limit {
            Err(self.fail_at(
                at,
                ErrorKind::NestingTooDeep {
                    limit: self.nest_limit,
                },
                1,
            ))
        } else {
            Ok(())
        }
    }

    /// `filter = and_expr *(SP "or" SP and_expr)` with `and_expr = unary *(SP "and" SP
    /// unary)`, in one loop: `and` groups close when an `or` (or the end) comes.
    fn or_expr(&self, i: &'a str, depth: usize, in_brackets: bool) -> PResult<'a, Filter> {
        let (i, first) = self.unary(i, depth, in_brackets)?;
        let Some((mut logical, mut rest)) = logical_keyword(i) else {
            return Ok((i, first));
        };
        let mut ors: Vec<Filter> = Vec::new();
        let mut ands: Vec<Filter> = Vec::with_capacity(4);
        ands.push(first);
        loop {
            if logical == Logical::Or {
                ors.push(and_group(std::mem::take(&mut ands)));
            }
            let (after, next) = self.unary(rest, depth, in_brackets)?;
            ands.push(next);
            match logical_keyword(after) {
                Some((l, r)) => (logical, rest) = (l, r),
                None => {
                    let last = and_group(ands);
                    if ors.is_empty() {
                        return Ok((after, last));
                    }
                    ors.push(last);
                    return Ok((after, Filter::Or(ors)));
                }
            }
        }
    }

    /// `unary = "not" [SP] "(" filter ")" / "(" filter ")" / attrExp / valuePath`
    fn unary(&self, i: &'a str, depth: usize, in_brackets: bool) -> PResult<'a, Filter> {
        if starts_with_ci(i, "not") {
            let (after, _) = ws(&i[3..])?;
            if let Some(inner) = after.strip_prefix('(') {
                self.depth_check(after, depth + 1)?;
                let (rest, filter) = self.group(inner, depth + 1, in_brackets)?;
                return Ok((rest, Filter::Not(Box::new(filter))));
            }
        }
        if let Some(inner) = i.strip_prefix('(') {
            self.depth_check(i, depth + 1)?;
            return self.group(inner, depth + 1, in_brackets);
        }
        self.attr_term(i, depth, in_brackets)
    }

    /// The inside of `( … )`, after the `(`.
    fn group(&self, i: &'a str, depth: usize, in_brackets: bool) -> PResult<'a, Filter> {
        let (i, _) = ws(i)?;
        let (i, filter) = self.or_expr(i, depth, in_brackets)?;
        let (i, _) = ws(i)?;
        match i.strip_prefix(')') {
            Some(rest) => Ok((rest, filter)),
            None => Err(self.after_term(i, "`and`, `or` or `)`")),
        }
    }

    /// `attrExp` or `valuePath`.
    fn attr_term(&self, i: &'a str, depth: usize, in_brackets: bool) -> PResult<'a, Filter> {
        let start = i;
        let (i, path) = self.attr_path(i)?;
        if let Some(inner) = i.strip_prefix('[') {
            if in_brackets {
                return Err(self.fail_at(start, ErrorKind::NestedValuePath, start.len() - i.len()));
            }
            if path.sub_attr.is_some() {
                return Err(self.fail_at(i, ErrorKind::ValueFilterOnSubAttribute, 1));
            }
            self.depth_check(i, depth + 1)?;
            let (inner, _) = ws(inner)?;
            let (inner, filter) = self.or_expr(inner, depth + 1, true)?;
            let (inner, _) = ws(inner)?;
            let Some(rest) = inner.strip_prefix(']') else {
                return Err(self.after_term(inner, "`and`, `or` or `]`"));
            };
            // Extension: `emails[type eq "work"].value eq "x"`, which Entra ID sends to match
            // users before creating them, means `emails[type eq "work" and value eq "x"]`.
            let (rest, filter) = match rest.strip_prefix('.') {
                Some(after) => {
                    let (after, sub) = self.attr_name(after, "a sub-attribute name after `].`")?;
                    let (after, tail) = self.expr_tail(after, AttrPath::new(sub))?;
                    let filter = match filter {
                        Filter::And(mut operands) => {
                            operands.push(tail);
                            Filter::And(operands)
                        }
                        other => Filter::And(vec![other, tail]),
                    };
                    (after, filter)
                }
                None => (rest, filter),
            };
            let vp = ValuePath {
                attr: path,
                filter: Box::new(filter),
            };
            return Ok((rest, Filter::ValuePath(vp)));
        }
        self.expr_tail(i, path)
    }

    #[inline]
    /// The rest of an `attrExp` after its path: `SP "pr"` or `SP compareOp SP compValue`.
    fn expr_tail(&self, i: &'a str, path: AttrPath) -> PResult<'a, Filter> {
        let Some(i) = space(i) else {
            return Err(self.expected(
                i,
                "a space and an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)",
            ));
        };
        let (i, _) = ws(i)?;
        let (i, op) = match self.operator(i) {
            Ok(found) => found,
            // `not a pr`: `not` is an attribute name only when an operator follows.
            Err(_)
                if path.urn.is_none()
                    && path.sub_attr.is_none()
                    && path.name.eq_ignore_ascii_case("not") =>
            {
                return Err(self.expected(i, "`(` after `not` (as in `not (…)`)"));
            }
            Err(e) => return Err(e),
        };
        let Some(op) = op else {
            return Ok((i, Filter::Attr(AttrExpr::Present(path))));
        };
        let Some(i) = space(i) else {
            return Err(self.expected(i, "a space and a comparison value"));
        };
        let (i, _) = ws(i)?;
        let (i, value) = self.comp_value(i)?;
        Ok((i, Filter::Attr(AttrExpr::Compare(path, op, value))))
    }

    /// `compareOp` or `pr` (`None`).
    fn operator(&self, i: &'a str) -> PResult<'a, Option<CompareOp>> {
        let word_len = name_len(i.as_bytes());
        if word_len == 2 {
            let b = i.as_bytes();
            let op = match [b[0].to_ascii_lowercase(), b[1].to_ascii_lowercase()] {
                [b'e', b'q'] => Some(Some(CompareOp::Eq)),
                [b'n', b'e'] => Some(Some(CompareOp::Ne)),
                [b'c', b'o'] => Some(Some(CompareOp::Co)),
                [b's', b'w'] => Some(Some(CompareOp::Sw)),
                [b'e', b'w'] => Some(Some(CompareOp::Ew)),
                [b'g', b't'] => Some(Some(CompareOp::Gt)),
                [b'g', b'e'] => Some(Some(CompareOp::Ge)),
                [b'l', b't'] => Some(Some(CompareOp::Lt)),
                [b'l', b'e'] => Some(Some(CompareOp::Le)),
                [b'p', b'r'] => Some(None),
                _ => None,
            };
            if let Some(op) = op {
                return Ok((&i[2..], op));
            }
        }
        match i.as_bytes().first() {
            Some(b'[') => Err(self.expected(
                i,
                "an operator; a value filter `[` must follow the attribute name without a space",
            )),
            // A value where the operator belongs: the operator is missing.
            None | Some(b'"' | b'0'..=b'9' | b'-' | b'(' | b')' | b']') => {
                Err(self.expected(i, "an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)"))
            }
            Some(_) => Err(self.fail_at(i, ErrorKind::UnknownOperator, token_len(i))),
        }
    }

    /// `attrPath = [URI ":"] ATTRNAME *1subAttr`, where a filter term may start.
    fn attr_path(&self, i: &'a str) -> PResult<'a, AttrPath> {
        self.attr_path_for(i, "an attribute name, `(` or `not`")
    }

    /// `attrPath`; `what` names what was expected if there is no name.
    fn attr_path_for(&self, i: &'a str, what: &'static str) -> PResult<'a, AttrPath> {
        if starts_with_ci(i, "urn:") {
            let len = i.bytes().take_while(|&b| URN_BYTES[usize::from(b)]).count();
            let (whole, rest) = i.split_at(len);
            let colon = whole.rfind(':').expect("starts with `urn:`");
            let (urn, tail) = (&whole[..colon], &whole[colon + 1..]);
            let after_colon = &i[colon + 1..];
            let (name, sub) = match tail.split_once('.') {
                Some((name, sub)) => (name, Some(sub)),
                None => (tail, None),
            };
            if colon <= 4 {
                return Err(self.expected(i, "a schema URN such as `urn:ietf:params:scim:schemas:core:2.0:User:` before the attribute name"));
            }
            if !crate::is_attr_name(name) {
                return Err(self.expected(after_colon, "an attribute name after the schema URN"));
            }
            if sub.is_some_and(|sub| !crate::is_attr_name(sub)) {
                return Err(self.expected(&after_colon[name.len() + 1..], "a sub-attribute name"));
            }
            let mut path = AttrPath::new(name).with_urn(urn);
            if let Some(sub) = sub {
                path = path.with_sub_attr(sub);
            }
            return Ok((rest, path));
        }
        let (i, name) = self.attr_name(i, what)?;
        let mut path = AttrPath::new(name);
        let Some(after_dot) = i.strip_prefix('.') else {
            return Ok((i, path));
        };
        let (i, sub) = self.attr_name(after_dot, "a sub-attribute name")?;
        path = path.with_sub_attr(sub);
        Ok((i, path))
    }

    /// `ATTRNAME = ALPHA *(nameChar)`, also `$ref`.
    fn attr_name(&self, i: &'a str, what: &'static str) -> PResult<'a, &'a str> {
        let b = i.as_bytes();
        let start = usize::from(b.first() == Some(&b'$'));
        if !b.get(start).is_some_and(u8::is_ascii_alphabetic) {
            return Err(self.expected(i, what));
        }
        let len = start + 1 + name_len(&b[start + 1..]);
        Ok((&i[len..], &i[..len]))
    }

    /// `compValue = false / null / true / number / string`
    fn comp_value(&self, i: &'a str) -> PResult<'a, CompValue> {
        match i.as_bytes().first() {
            Some(b'"') => self.string(i),
            Some(b'-' | b'0'..=b'9') if self.bare_strings => {
                self.number(i).or_else(|e| self.bare_word(i).ok_or(e))
            }
            Some(b'-' | b'0'..=b'9') => self.number(i),
            Some(b'.' | b'+') => Err(self.fail_at(i, ErrorKind::InvalidNumber, token_len(i))),
            Some(_) => {
                for (word, value) in [
                    ("true", CompValue::Bool(true)),
                    ("false", CompValue::Bool(false)),
                    ("null", CompValue::Null),
                ] {
                    if starts_with_ci(i, word) && !i[word.len()..].starts_with(is_name_char) {
                        return Ok((&i[word.len()..], value));
                    }
                }
                if self.bare_strings
                    && let Some(word) = self.bare_word(i)
                {
                    return Ok(word);
                }
                Err(self.expected(
                    i,
                    "a comparison value (a string, a number, true, false or null)",
                ))
            }
            None => Err(self.expected(
                i,
                "a comparison value (a string, a number, true, false or null)",
            )),
        }
    }

    /// An unquoted word as a string value (see [`Parser::bare_strings`]).
    fn bare_word(&self, i: &'a str) -> Option<(&'a str, CompValue)> {
        let end = i
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | ']' | '"' | '['))
            .unwrap_or(i.len());
        (end > 0).then(|| (&i[end..], CompValue::Str(i[..end].into())))
    }

    /// A JSON number (RFC 8259 §6).
    fn number(&self, i: &'a str) -> PResult<'a, CompValue> {
        let int = recognize(pair(opt(tag("-")), digit1::<&str, Fail>));
        let frac = recognize(pair(tag("."), digit1::<&str, Fail>));
        let exp = recognize((one_of("eE"), opt(one_of("+-")), digit1::<&str, Fail>));
        let invalid = || self.fail_at(i, ErrorKind::InvalidNumber, token_len(i));
        let (rest, text) =
            nom_ok(recognize((int, opt(frac), opt(exp))).parse(i)).map_err(|_| invalid())?;
        let digits = text.trim_start_matches('-');
        let leading_zero =
            digits.len() > 1 && digits.starts_with('0') && digits.as_bytes()[1].is_ascii_digit();
        // `1.`, `1e`, `01`, or a number running into a name (`1abc`).
        if leading_zero || rest.starts_with(['.', 'e', 'E']) || rest.starts_with(is_name_char) {
            return Err(invalid());
        }
        let is_integer = !text.contains(['.', 'e', 'E']);
        let value = match text.parse::<i64>() {
            Ok(n) if is_integer => CompValue::Int(n),
            _ => match text.parse::<f64>() {
                Ok(f) if f.is_finite() => CompValue::Decimal(f),
                _ => return Err(invalid()),
            },
        };
        Ok((rest, value))
    }

    /// A JSON string (RFC 8259 §7), with every escape, including surrogate pairs.
    fn string(&self, i: &'a str) -> PResult<'a, CompValue> {
        let body = &i[1..];
        let bytes = body.as_bytes();
        // Fast path: no escapes.
        let mut n = 0;
        while n < bytes.len() && !STRING_STOP[usize::from(bytes[n])] {
            n += 1;
        }
        match bytes.get(n) {
            Some(b'"') => return Ok((&body[n + 1..], CompValue::Str(body[..n].into()))),
            Some(b'\\') => {}
            Some(_) => return Err(self.fail_at(&body[n..], ErrorKind::ControlCharacter, 1)),
            None => return Err(self.fail_at(i, ErrorKind::UnterminatedString, i.len())),
        }
        let mut out = String::with_capacity(body.len());
        out.push_str(&body[..n]);
        let mut rest = &body[n..];
        loop {
            let Some(c) = rest.chars().next() else {
                return Err(self.fail_at(i, ErrorKind::UnterminatedString, i.len()));
            };
            match c {
                '"' => return Ok((&rest[1..], CompValue::Str(out.into()))),
                '\\' => {
                    let (after, ch) = self.escape(rest)?;
                    out.push(ch);
                    rest = after;
                }
                c if (c as u32) < 0x20 => {
                    return Err(self.fail_at(rest, ErrorKind::ControlCharacter, 1));
                }
                c => {
                    out.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
    }

    /// One escape sequence starting at the backslash.
    fn escape(&self, at: &'a str) -> PResult<'a, char> {
        let bad = |len: usize| self.fail_at(at, ErrorKind::InvalidEscape, len.min(at.len()));
        let simple = match at.as_bytes().get(1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let hi = hex4(&at[2..]).ok_or_else(|| bad(6))?;
                if (0xD800..0xDC00).contains(&hi) {
                    // A high surrogate must be followed by `\u` and a low surrogate.
                    let lo = at
                        .get(6..8)
                        .filter(|s| *s == "\\u")
                        .and_then(|_| hex4(&at[8..]))
                        .filter(|lo| (0xDC00..0xE000).contains(lo))
                        .ok_or_else(|| bad(6))?;
                    let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                    return Ok((
                        &at[12..],
                        char::from_u32(c).expect("surrogate pairs decode"),
                    ));
                }
                let c = char::from_u32(hi).ok_or_else(|| bad(6))?;
                return Ok((&at[6..], c));
            }
            Some(_) => return Err(bad(at[1..].chars().next().map_or(1, |c| 1 + c.len_utf8()))),
            None => return Err(bad(1)),
        };
        Ok((&at[2..], simple))
    }
}

/// Four hex digits.
fn hex4(s: &str) -> Option<u32> {
    let digits = s.get(..4)?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}

/// `and` or `or`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Logical {
    And,
    Or,
}

/// One or more `and` operands as a filter.
fn and_group(mut operands: Vec<Filter>) -> Filter {
    if operands.len() == 1 {
        operands.pop().expect("one operand")
    } else {
        Filter::And(operands)
    }
}

/// A logical keyword after an operand: whitespace, `and` or `or` in any case, then
/// whitespace or `(`. Returns the keyword and the input after it and its trailing whitespace.
fn logical_keyword(i: &str) -> Option<(Logical, &str)> {
    let lead = i.bytes().take_while(|&b| is_ws(b)).count();
    if lead == 0 {
        return None;
    }
    let (logical, after) = keyword_at(&i[lead..])?;
    let gap = after.bytes().take_while(|&b| is_ws(b)).count();
    Some((logical, &after[gap..]))
}

/// `and` or `or` (any case) at the start of `i`, not followed by a name character (so
/// `order` and `andy` are names). Returns the keyword and what follows it.
fn keyword_at(i: &str) -> Option<(Logical, &str)> {
    let (logical, len) = if starts_with_ci(i, "and") {
        (Logical::And, 3)
    } else if starts_with_ci(i, "or") {
        (Logical::Or, 2)
    } else {
        return None;
    };
    let after = &i[len..];
    match after.as_bytes().first() {
        Some(&b) if NAME_BYTES[usize::from(b)] || b == b'.' || b == b':' || b == b'[' => None,
        _ => Some((logical, after)),
    }
}
