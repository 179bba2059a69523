//! The setup form (`ConfigurationForm`): fields and named setup tests.

use crate::proto::{self, form_field::Type};

/// One form field, built from a constructor plus optional modifiers.
#[derive(Debug, Clone)]
pub struct Field(proto::FormField);

impl Field {
    fn new(name: &str, label: &str, ty: Type) -> Self {
        Self(proto::FormField {
            name: name.to_owned(),
            label: label.to_owned(),
            required: Some(true),
            r#type: Some(ty),
            ..Default::default()
        })
    }

    /// A plain-text field (required unless [`Field::optional`]).
    pub fn text(name: &str, label: &str) -> Self {
        Self::new(
            name,
            label,
            Type::TextField(proto::TextField::PlainText as i32),
        )
    }

    /// A masked password/secret field.
    pub fn password(name: &str, label: &str) -> Self {
        Self::new(
            name,
            label,
            Type::TextField(proto::TextField::Password as i32),
        )
    }

    /// A dropdown with the given options.
    pub fn dropdown(name: &str, label: &str, options: &[&str]) -> Self {
        Self::new(
            name,
            label,
            Type::DropdownField(proto::DropdownField {
                dropdown_field: options.iter().map(|o| (*o).to_owned()).collect(),
            }),
        )
    }

    /// An on/off toggle; its value arrives as `"true"`/`"false"`.
    pub fn toggle(name: &str, label: &str) -> Self {
        Self::new(name, label, Type::ToggleField(proto::ToggleField {})).optional()
    }

    /// Fields shown only while the toggle `condition_field` equals `when`.
    pub fn shown_when(condition_field: &str, when: bool, fields: Vec<Field>) -> Self {
        Self::new(
            &format!("{condition_field}_{when}_fields"),
            "",
            Type::ConditionalFields(proto::ConditionalFields {
                condition: Some(proto::VisibilityCondition {
                    condition_field: condition_field.to_owned(),
                    visible_when: Some(proto::visibility_condition::VisibleWhen::BoolValue(when)),
                }),
                fields: fields.into_iter().map(|f| f.0).collect(),
            }),
        )
    }

    /// Marks the field optional.
    pub fn optional(mut self) -> Self {
        self.0.required = Some(false);
        self
    }

    /// Help text under the field.
    pub fn description(mut self, text: &str) -> Self {
        self.0.description = Some(text.to_owned());
        self
    }

    /// The value used when the user leaves the field empty.
    pub fn default_value(mut self, value: &str) -> Self {
        self.0.default_value = Some(value.to_owned());
        self
    }

    /// Greyed-out example text.
    pub fn placeholder(mut self, text: &str) -> Self {
        self.0.placeholder = Some(text.to_owned());
        self
    }

    /// The field's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }
}

/// A connector's setup form: fields and the setup tests Fivetran runs, in order, before the first sync.
#[derive(Debug, Clone, Default)]
pub struct Form {
    fields: Vec<Field>,
    tests: Vec<(String, String)>,
}

impl Form {
    /// An empty form.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a field.
    pub fn field(mut self, field: Field) -> Self {
        self.fields.push(field);
        self
    }

    /// Adds an "Advanced settings" toggle (field `advanced`) and, shown when it is on, `fields`.
    pub fn advanced(self, fields: Vec<Field>) -> Self {
        self.field(Field::toggle("advanced", "Advanced settings"))
            .field(Field::shown_when("advanced", true, fields))
    }

    /// Adds a setup test named `name` (what `Test` receives) with a label for the UI.
    pub fn test(mut self, name: &str, label: &str) -> Self {
        self.tests.push((name.to_owned(), label.to_owned()));
        self
    }

    /// The names of the setup tests, in order.
    pub fn test_names(&self) -> impl Iterator<Item = &str> {
        self.tests.iter().map(|(n, _)| n.as_str())
    }

    /// The fields, in order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The wire form. Table selection is supported by every connector built on this SDK.
    pub fn to_proto(&self) -> proto::ConfigurationFormResponse {
        proto::ConfigurationFormResponse {
            schema_selection_supported: false,
            table_selection_supported: true,
            fields: self.fields.iter().map(|f| f.0.clone()).collect(),
            tests: self
                .tests
                .iter()
                .map(|(name, label)| proto::ConfigurationTest {
                    name: name.clone(),
                    label: label.clone(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encodes_fields_and_tests() {
        let form = Form::new()
            .field(Field::password("api_key", "API key"))
            .field(
                Field::text("start_date", "Start date")
                    .optional()
                    .placeholder("2024-01-01"),
            )
            .field(Field::shown_when(
                "advanced",
                true,
                vec![Field::text("take", "Take")],
            ))
            .test("connect", "Connect to the API");
        let p = form.to_proto();
        assert_eq!(p.fields.len(), 3);
        assert_eq!(
            p.fields[0].r#type,
            Some(Type::TextField(proto::TextField::Password as i32))
        );
        assert_eq!(p.fields[1].required, Some(false));
        assert!(
            matches!(p.fields[2].r#type, Some(Type::ConditionalFields(ref c)) if c.fields.len() == 1)
        );
        assert_eq!(p.tests[0].name, "connect");
        assert!(p.table_selection_supported);
    }
}
