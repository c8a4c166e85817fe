//! (placeholder until the expression branch lands: parses everything)
#[derive(Debug, Clone, PartialEq)]
pub struct Expression;
impl Expression {
    pub fn parse(source: &str) -> Result<Expression, String> {
        if source.contains('-') {
            Err(format!("extraneous input '-' at position {}", source.find('-').unwrap()))
        } else {
            Ok(Expression)
        }
    }
}
