//! The Search Ads 360 Query Language subset the simulator understands: a tokenizer and a
//! recursive-descent parser producing a syntax tree, with `QueryError` codes for malformed input.
//! Meaning (which fields exist, which resource they may be used with, value types) is checked
//! later, in [`plan`](super::plan).
//!
//! ```text
//! Query     -> SELECT Field (, Field)* FROM Resource [WHERE Cond (AND Cond)*]
//!              [ORDER BY Field [ASC|DESC] (, Field [ASC|DESC])*] [LIMIT n] [PARAMETERS p = v (, p = v)*]
//! Cond      -> Field (= | != | < | <= | > | >=) Value
//!            | Field [NOT] IN ( Value (, Value)* )
//!            | Field [NOT] LIKE String
//!            | Field BETWEEN Value AND Value
//!            | Field DURING DateRangeLiteral
//!            | Field IS [NOT] NULL
//! Value     -> 'string' | "string" | number | IDENTIFIER (enum constants, TRUE, FALSE)
//! ```
//! Keywords are case-insensitive; field and resource names are lower-case snake_case. There is no
//! `OR` in the language. `PARAMETERS` is parsed and ignored.

use super::errors::Sa360Error;

/// A literal in a condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    /// A quoted string, unescaped.
    Str(String),
    /// A number as written.
    Num(String),
    /// A bare identifier (enum constant, `TRUE`, a date range literal).
    Ident(String),
}

impl Literal {
    pub(crate) fn text(&self) -> &str {
        match self {
            Literal::Str(text) | Literal::Num(text) | Literal::Ident(text) => text,
        }
    }
}

/// A condition's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    Like,
    NotLike,
    Between,
    During,
    IsNull,
    IsNotNull,
}

impl Op {
    pub(crate) fn text(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::In => "IN",
            Op::NotIn => "NOT IN",
            Op::Like => "LIKE",
            Op::NotLike => "NOT LIKE",
            Op::Between => "BETWEEN",
            Op::During => "DURING",
            Op::IsNull => "IS NULL",
            Op::IsNotNull => "IS NOT NULL",
        }
    }
}

/// What an operator applies to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    None,
    One(Literal),
    List(Vec<Literal>),
    Pair(Literal, Literal),
}

/// `field op operand`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    pub(crate) field: String,
    pub(crate) op: Op,
    pub(crate) operand: Operand,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Query {
    pub(crate) select: Vec<String>,
    pub(crate) from: String,
    pub(crate) conditions: Vec<Condition>,
    /// `(field, descending)`.
    pub(crate) order_by: Vec<(String, bool)>,
    pub(crate) limit: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A word: keyword, field name, resource name, enum constant.
    Word(String),
    Str(String),
    Num(String),
    Comma,
    Open,
    Close,
    /// `=`, `!=`, `<`, `<=`, `>`, `>=`.
    Cmp(&'static str),
    /// Any other ASCII punctuation (`*`, `;`, ...).
    Other(char),
}

fn query_error(code: &'static str, message: impl Into<String>) -> Sa360Error {
    Sa360Error::new("queryError", code, message)
}

fn tokenize(text: &str) -> Result<Vec<Token>, Sa360Error> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            _ if c.is_ascii_whitespace() => i += 1,
            ',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            '=' => {
                tokens.push(Token::Cmp("="));
                i += 1;
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                tokens.push(Token::Cmp("!="));
                i += 2;
            }
            '<' | '>' => {
                let with_equals = chars.get(i + 1) == Some(&'=');
                tokens.push(Token::Cmp(match (c, with_equals) {
                    ('<', true) => "<=",
                    ('<', false) => "<",
                    (_, true) => ">=",
                    _ => ">",
                }));
                i += if with_equals { 2 } else { 1 };
            }
            '\'' | '"' => {
                let quote = c;
                let mut value = String::new();
                i += 1;
                loop {
                    let Some(&next) = chars.get(i) else {
                        return Err(query_error(
                            "STRING_NOT_TERMINATED",
                            "Error in query: string literal is not terminated.",
                        ));
                    };
                    match next {
                        '\n' | '\r' => {
                            return Err(query_error(
                                "PROHIBITED_NEWLINE_IN_STRING",
                                "Error in query: string literals cannot contain a newline.",
                            ))
                        }
                        '\\' => {
                            match chars.get(i + 1) {
                                Some(escaped @ ('\\' | '\'' | '"')) => value.push(*escaped),
                                _ => return Err(query_error(
                                    "BAD_ESCAPE_SEQUENCE",
                                    "Error in query: invalid escape sequence in string literal.",
                                )),
                            }
                            i += 2;
                        }
                        _ if next == quote => {
                            i += 1;
                            break;
                        }
                        _ => {
                            value.push(next);
                            i += 1;
                        }
                    }
                }
                tokens.push(Token::Str(value));
            }
            _ if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let start = i;
                i += 1;
                while chars
                    .get(i)
                    .is_some_and(|d| d.is_ascii_digit() || *d == '.')
                {
                    i += 1;
                }
                tokens.push(Token::Num(chars[start..i].iter().collect()));
            }
            _ if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|d| d.is_ascii_alphanumeric() || *d == '_' || *d == '.')
                {
                    i += 1;
                }
                // `custom_columns.id[12345]`.
                if chars.get(i) == Some(&'[') {
                    let mut end = i + 1;
                    while chars.get(end).is_some_and(char::is_ascii_digit) {
                        end += 1;
                    }
                    if chars.get(end) == Some(&']') {
                        i = end + 1;
                    }
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
            }
            _ if !c.is_ascii() => {
                return Err(query_error(
                    "BAD_SYMBOL",
                    format!("Error in query: unexpected symbol '{c}' outside a string literal."),
                )
                .triggered_by(c.to_string()))
            }
            _ => {
                tokens.push(Token::Other(c));
                i += 1;
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(word)) if word.eq_ignore_ascii_case(keyword))
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.is_keyword(keyword);
        if found {
            self.at += 1;
        }
        found
    }

    fn end_of_query() -> Sa360Error {
        query_error(
            "UNEXPECTED_END_OF_QUERY",
            "Error in query: the query ends before it is complete.",
        )
    }

    fn unexpected(token: &Token) -> Sa360Error {
        query_error(
            "UNEXPECTED_INPUT",
            format!("Error in query: unexpected input {}.", describe(token)),
        )
        .triggered_by(describe(token))
    }

    /// A field name: a word with at least one dot that is not a keyword.
    fn field(&mut self, clause: &str) -> Result<String, Sa360Error> {
        match self.next() {
            None => Err(Self::end_of_query()),
            Some(Token::Word(word))
                if word.contains('.') && !word.starts_with('.') && !word.ends_with('.') =>
            {
                Ok(word)
            }
            Some(token) => Err(query_error(
                "BAD_FIELD_NAME",
                format!(
                    "Error in {clause} clause: invalid field name {}.",
                    describe(&token)
                ),
            )
            .triggered_by(describe(&token))),
        }
    }

    fn literal(&mut self) -> Result<Literal, Sa360Error> {
        match self.next() {
            None => Err(Self::end_of_query()),
            Some(Token::Str(text)) => Ok(Literal::Str(text)),
            Some(Token::Num(text)) => Ok(Literal::Num(text)),
            Some(Token::Word(word)) if !is_reserved(&word) => Ok(Literal::Ident(word)),
            Some(Token::Open) => Err(query_error(
                "EXPECTED_SINGLE_VALUE",
                "Error in WHERE clause: the operator expects a single value, not a list.",
            )),
            Some(token) => Err(query_error(
                "BAD_VALUE",
                format!("Error in WHERE clause: invalid value {}.", describe(&token)),
            )
            .triggered_by(describe(&token))),
        }
    }

    fn list(&mut self) -> Result<Vec<Literal>, Sa360Error> {
        if self.peek() != Some(&Token::Open) {
            return Err(query_error(
                "EXPECTED_LIST",
                "Error in WHERE clause: the IN operator expects a parenthesised list of values.",
            ));
        }
        self.at += 1;
        if self.peek() == Some(&Token::Close) {
            return Err(query_error(
                "PROHIBITED_EMPTY_LIST_IN_CONDITION",
                "Error in WHERE clause: a condition has an empty list.",
            ));
        }
        let mut values = Vec::new();
        loop {
            if self.peek() == Some(&Token::Open) {
                return Err(query_error(
                    "BAD_VALUE",
                    "Error in WHERE clause: nested lists are not values.",
                ));
            }
            values.push(self.literal()?);
            match self.next() {
                Some(Token::Comma) => continue,
                Some(Token::Close) => return Ok(values),
                None => return Err(Self::end_of_query()),
                Some(token) => return Err(Self::unexpected(&token)),
            }
        }
    }

    fn condition(&mut self) -> Result<Condition, Sa360Error> {
        let field = self.field("WHERE")?;
        let (op, operand) = match self.next() {
            None => return Err(Self::end_of_query()),
            Some(Token::Cmp(symbol)) => {
                let op = match symbol {
                    "=" => Op::Eq,
                    "!=" => Op::Ne,
                    "<" => Op::Lt,
                    "<=" => Op::Le,
                    ">" => Op::Gt,
                    _ => Op::Ge,
                };
                (op, Operand::One(self.literal()?))
            }
            Some(Token::Word(word)) => match word.to_ascii_uppercase().as_str() {
                "IN" => (Op::In, Operand::List(self.list()?)),
                "NOT" if self.eat_keyword("IN") => (Op::NotIn, Operand::List(self.list()?)),
                "NOT" if self.eat_keyword("LIKE") => (Op::NotLike, Operand::One(self.literal()?)),
                "LIKE" => (Op::Like, Operand::One(self.literal()?)),
                "IS" => {
                    let negated = self.eat_keyword("NOT");
                    if !self.eat_keyword("NULL") {
                        return Err(query_error(
                            "BAD_OPERATOR",
                            "Error in WHERE clause: expected NULL after IS.",
                        ));
                    }
                    (
                        if negated { Op::IsNotNull } else { Op::IsNull },
                        Operand::None,
                    )
                }
                "BETWEEN" => {
                    if self.peek().is_none() || self.is_keyword("AND") {
                        return Err(query_error(
                            "EXPECTED_VALUE_WITH_BETWEEN_OPERATOR",
                            "Error in WHERE clause: BETWEEN needs two values.",
                        ));
                    }
                    let low = self.literal()?;
                    if !self.eat_keyword("AND") {
                        return Err(query_error(
                            "EXPECTED_AND",
                            "Error in WHERE clause: expected AND between the values of BETWEEN.",
                        ));
                    }
                    if self.peek().is_none()
                        || self.is_keyword("AND")
                        || self.is_keyword("ORDER")
                        || self.is_keyword("LIMIT")
                    {
                        return Err(query_error(
                            "EXPECTED_VALUE_WITH_BETWEEN_OPERATOR",
                            "Error in WHERE clause: BETWEEN needs two values.",
                        ));
                    }
                    let high = self.literal()?;
                    (Op::Between, Operand::Pair(low, high))
                }
                "DURING" => match self.next() {
                    Some(Token::Word(literal)) => {
                        (Op::During, Operand::One(Literal::Ident(literal)))
                    }
                    None => return Err(Self::end_of_query()),
                    Some(token) => {
                        return Err(query_error(
                            "INVALID_VALUE_WITH_DURING_OPERATOR",
                            format!(
                                "Error in WHERE clause: {} is not a date range literal.",
                                describe(&token)
                            ),
                        )
                        .triggered_by(describe(&token)))
                    }
                },
                _ => {
                    return Err(query_error(
                        "BAD_OPERATOR",
                        format!("Error in WHERE clause: invalid operator '{word}'."),
                    )
                    .triggered_by(word))
                }
            },
            Some(token) => {
                return Err(query_error(
                    "BAD_OPERATOR",
                    format!(
                        "Error in WHERE clause: invalid operator {}.",
                        describe(&token)
                    ),
                )
                .triggered_by(describe(&token)))
            }
        };
        Ok(Condition { field, op, operand })
    }
}

const RESERVED: [&str; 18] = [
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "ORDER",
    "BY",
    "ASC",
    "DESC",
    "LIMIT",
    "IN",
    "NOT",
    "BETWEEN",
    "DURING",
    "LIKE",
    "IS",
    "NULL",
    "PARAMETERS",
];

fn is_reserved(word: &str) -> bool {
    RESERVED
        .iter()
        .any(|keyword| word.eq_ignore_ascii_case(keyword))
}

fn describe(token: &Token) -> String {
    match token {
        Token::Word(word) => format!("'{word}'"),
        Token::Str(text) => format!("'{text}'"),
        Token::Num(text) => text.clone(),
        Token::Comma => "','".to_owned(),
        Token::Open => "'('".to_owned(),
        Token::Close => "')'".to_owned(),
        Token::Cmp(symbol) => format!("'{symbol}'"),
        Token::Other(c) => format!("'{c}'"),
    }
}

/// Parses a query, or says what is wrong with it in `QueryError` terms.
pub(crate) fn parse(text: &str) -> Result<Query, Sa360Error> {
    let mut p = Parser {
        tokens: tokenize(text)?,
        at: 0,
    };
    if p.peek().is_none() {
        return Err(query_error(
            "EXPECTED_SELECT",
            "Error in query: the query is empty; it must start with SELECT.",
        ));
    }
    if !p.eat_keyword("SELECT") {
        return Err(query_error(
            "EXPECTED_SELECT",
            "Error in query: the query must start with SELECT.",
        ));
    }
    let mut select = Vec::new();
    loop {
        if p.is_keyword("FROM") {
            return Err(query_error(
                "BAD_FIELD_NAME",
                "Error in SELECT clause: expected a field name before FROM.",
            ));
        }
        select.push(p.field("SELECT")?);
        match p.peek() {
            Some(Token::Comma) => p.at += 1,
            _ => break,
        }
    }
    if !p.eat_keyword("FROM") {
        return Err(match p.peek() {
            None => query_error("EXPECTED_FROM", "Error in query: missing FROM clause."),
            Some(Token::Word(word))
                if ["WHERE", "ORDER", "LIMIT"]
                    .iter()
                    .any(|k| word.eq_ignore_ascii_case(k)) =>
            {
                query_error("EXPECTED_FROM", "Error in query: missing FROM clause.")
            }
            Some(token) => Parser::unexpected(&token.clone()),
        });
    }
    let from = match p.next() {
        None => return Err(Parser::end_of_query()),
        Some(Token::Word(word)) if !word.contains('.') && !is_reserved(&word) => word,
        Some(token) => {
            return Err(query_error(
                "BAD_RESOURCE_TYPE_IN_FROM_CLAUSE",
                format!(
                    "Error in FROM clause: invalid resource {}.",
                    describe(&token)
                ),
            )
            .triggered_by(describe(&token)))
        }
    };
    let mut conditions = Vec::new();
    if p.eat_keyword("WHERE") {
        loop {
            conditions.push(p.condition()?);
            if p.is_keyword("OR") {
                return Err(query_error(
                    "UNEXPECTED_INPUT",
                    "Error in WHERE clause: OR is not supported; combine conditions with AND.",
                )
                .triggered_by("OR"));
            }
            if !p.eat_keyword("AND") {
                break;
            }
        }
    }
    let mut order_by = Vec::new();
    if p.eat_keyword("ORDER") {
        if !p.eat_keyword("BY") {
            return Err(query_error(
                "EXPECTED_BY",
                "Error in ORDER BY clause: expected BY after ORDER.",
            ));
        }
        loop {
            let field = p.field("ORDER BY")?;
            let descending = if p.eat_keyword("DESC") {
                true
            } else {
                p.eat_keyword("ASC");
                false
            };
            order_by.push((field, descending));
            match p.peek() {
                Some(Token::Comma) => p.at += 1,
                _ => break,
            }
        }
    }
    let mut limit = None;
    if p.eat_keyword("LIMIT") {
        match p.next() {
            None => return Err(Parser::end_of_query()),
            Some(Token::Num(text)) => match text.parse::<u64>() {
                Ok(0) => {
                    return Err(query_error(
                        "LIMIT_VALUE_TOO_LOW",
                        "Error in LIMIT clause: the limit must be at least 1.",
                    ))
                }
                Ok(n) => limit = Some(n),
                Err(_) if text.starts_with('-') => {
                    return Err(query_error(
                        "LIMIT_VALUE_TOO_LOW",
                        "Error in LIMIT clause: the limit must be at least 1.",
                    ))
                }
                Err(_) => {
                    return Err(query_error(
                        "BAD_LIMIT_VALUE",
                        format!("Error in LIMIT clause: invalid limit '{text}'."),
                    ))
                }
            },
            Some(token) => {
                return Err(query_error(
                    "BAD_LIMIT_VALUE",
                    format!("Error in LIMIT clause: invalid limit {}.", describe(&token)),
                )
                .triggered_by(describe(&token)))
            }
        }
    }
    if p.eat_keyword("PARAMETERS") {
        loop {
            match (p.next(), p.next()) {
                (Some(Token::Word(_)), Some(Token::Cmp("="))) => {}
                (None, _) | (_, None) => return Err(Parser::end_of_query()),
                _ => {
                    return Err(query_error(
                        "BAD_PARAMETER_NAME",
                        "Error in PARAMETERS clause: expected name = value.",
                    ))
                }
            }
            p.literal().map_err(|_| {
                query_error(
                    "BAD_PARAMETER_VALUE",
                    "Error in PARAMETERS clause: invalid value.",
                )
            })?;
            match p.peek() {
                Some(Token::Comma) => p.at += 1,
                _ => break,
            }
        }
    }
    if let Some(token) = p.peek() {
        return Err(Parser::unexpected(&token.clone()));
    }
    Ok(Query {
        select,
        from,
        conditions,
        order_by,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> &'static str {
        parse(text).unwrap_err().code
    }

    #[test]
    fn parses_the_full_grammar() {
        let query = parse(
            "select campaign.id, metrics.cost_micros, segments.date from campaign \
             WHERE segments.date BETWEEN '2024-06-01' AND \"2024-06-30\" AND campaign.status IN (ENABLED, 'PAUSED') \
             and campaign.name not like '%x\\'y%' AND metrics.clicks >= 3 AND campaign.id != -1 \
             AND segments.date DURING LAST_7_DAYS AND campaign.end_date IS NOT NULL \
             ORDER BY metrics.clicks DESC, campaign.id LIMIT 10 PARAMETERS include_drafts = true",
        )
        .unwrap();
        assert_eq!(
            query.select,
            vec!["campaign.id", "metrics.cost_micros", "segments.date"]
        );
        assert_eq!(query.from, "campaign");
        assert_eq!(query.conditions.len(), 7);
        assert_eq!(
            query.conditions[0].operand,
            Operand::Pair(
                Literal::Str("2024-06-01".into()),
                Literal::Str("2024-06-30".into())
            )
        );
        assert_eq!(
            query.conditions[1].operand,
            Operand::List(vec![
                Literal::Ident("ENABLED".into()),
                Literal::Str("PAUSED".into())
            ])
        );
        assert_eq!(query.conditions[2].op, Op::NotLike);
        assert_eq!(
            query.conditions[2].operand,
            Operand::One(Literal::Str("%x'y%".into()))
        );
        assert_eq!(query.conditions[3].op, Op::Ge);
        assert_eq!(
            query.conditions[4].operand,
            Operand::One(Literal::Num("-1".into()))
        );
        assert_eq!(query.conditions[5].op, Op::During);
        assert_eq!(query.conditions[6].op, Op::IsNotNull);
        assert_eq!(
            query.order_by,
            vec![
                ("metrics.clicks".into(), true),
                ("campaign.id".into(), false)
            ]
        );
        assert_eq!(query.limit, Some(10));
        let custom = parse("SELECT custom_columns.id[123] FROM campaign").unwrap();
        assert_eq!(custom.select, vec!["custom_columns.id[123]"]);
    }

    #[test]
    fn malformed_queries_get_their_query_error() {
        assert_eq!(code(""), "EXPECTED_SELECT");
        assert_eq!(code("campaign.id FROM campaign"), "EXPECTED_SELECT");
        assert_eq!(code("SELECT campaign.id"), "EXPECTED_FROM");
        assert_eq!(
            code("SELECT campaign.id WHERE campaign.id = 1"),
            "EXPECTED_FROM"
        );
        assert_eq!(
            code("SELECT campaign.id campaign.name FROM campaign"),
            "UNEXPECTED_INPUT"
        );
        assert_eq!(code("SELECT * FROM campaign"), "BAD_FIELD_NAME");
        assert_eq!(code("SELECT campaign.id FROM"), "UNEXPECTED_END_OF_QUERY");
        assert_eq!(
            code("SELECT campaign.id FROM campaign.id"),
            "BAD_RESOURCE_TYPE_IN_FROM_CLAUSE"
        );
        assert_eq!(
            code("SELECT campaign.id FROM campaign WHERE campaign.name = 'x"),
            "STRING_NOT_TERMINATED"
        );
        assert_eq!(
            code("SELECT campaign.id FROM campaign WHERE campaign.name = 'a\nb'"),
            "PROHIBITED_NEWLINE_IN_STRING"
        );
        assert_eq!(
            code("SELECT campaign.id FROM campaign WHERE campaign.name = 'a\\nb'"),
            "BAD_ESCAPE_SEQUENCE"
        );
        assert_eq!(
            code("SELECT campaign.id FROM campaign WHERE campaign.name = ünï"),
            "BAD_SYMBOL"
        );
        assert_eq!(
            code("SELECT campaign.id FROM campaign WHERE campaign.id == 1"),
            "BAD_VALUE"
        );
        assert_eq!(
            code("SELECT campaign.id FROM campaign WHERE campaign.id CONTAINS 1"),
            "BAD_OPERATOR"
        );
        assert_eq!(
            code("SELECT campaign.id FROM campaign WHERE campaign.status IN ENABLED"),
            "EXPECTED_LIST"
        );
        assert_eq!(
            code("SELECT campaign.id FROM campaign WHERE campaign.status IN ()"),
            "PROHIBITED_EMPTY_LIST_IN_CONDITION"
        );
        assert_eq!(
            code("SELECT campaign.id FROM campaign WHERE campaign.status = (ENABLED)"),
            "EXPECTED_SINGLE_VALUE"
        );
        assert_eq!(code("SELECT campaign.id FROM campaign WHERE segments.date BETWEEN '2024-01-01' '2024-01-02'"), "EXPECTED_AND");
        assert_eq!(
            code("SELECT campaign.id FROM campaign WHERE segments.date BETWEEN '2024-01-01' AND"),
            "EXPECTED_VALUE_WITH_BETWEEN_OPERATOR"
        );
        assert_eq!(
            code("SELECT campaign.id FROM campaign WHERE segments.date DURING '2024'"),
            "INVALID_VALUE_WITH_DURING_OPERATOR"
        );
        assert_eq!(
            code("SELECT campaign.id FROM campaign WHERE campaign.id = 1 OR campaign.id = 2"),
            "UNEXPECTED_INPUT"
        );
        assert_eq!(
            code("SELECT campaign.id FROM campaign ORDER campaign.id"),
            "EXPECTED_BY"
        );
        assert_eq!(
            code("SELECT campaign.id FROM campaign LIMIT 0"),
            "LIMIT_VALUE_TOO_LOW"
        );
        assert_eq!(
            code("SELECT campaign.id FROM campaign LIMIT ten"),
            "BAD_LIMIT_VALUE"
        );
        assert_eq!(
            code("SELECT campaign.id FROM campaign LIMIT 5 extra"),
            "UNEXPECTED_INPUT"
        );
    }
}
