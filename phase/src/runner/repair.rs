//! The repair prompt: the same instructions, told that the artifact must be repaired and —
//! unlike the reference runner — told what was wrong.

use devflow_core::Validation;
use devflow_core::text::neutralize_line;
use devflow_session::REPAIR_LINE;

/// The instructions of a repair attempt: the repair line, the instructions unchanged (whatever
/// they hold — the simulated agents' `Scenario:` lines too: the doubles tell a repair by the
/// repair line themselves), then what was wrong.
pub fn repair_instructions(instructions: &str, problems: &[String]) -> String {
    let mut text = format!("{REPAIR_LINE}\n{instructions}");
    if !problems.is_empty() {
        text.push_str("\n\nWhat was wrong with the previous attempt:\n");
        for problem in problems {
            text.push_str(&format!("- {problem}\n"));
        }
    }
    text
}

/// One line per validation error: where, and what. Both come from the artifact (its keys and
/// values), which an agent wrote: the path is quoted as a JSON string and any control character
/// left in the message is replaced, so no problem spans two lines of the repair prompt.
pub fn validation_problems(validation: &Validation) -> Vec<String> {
    validation
        .issues()
        .iter()
        .map(|issue| {
            let at = match issue.instance_path.is_empty() {
                true => "the document".to_owned(),
                false => serde_json::Value::from(issue.instance_path.as_str()).to_string(),
            };
            format!("at {at}: {}", neutralize_line(&issue.message))
        })
        .collect()
}

pub fn timeout_problem(path: &str, timeout_ms: u64) -> String {
    format!("no artifact appeared at {path} within {} seconds", timeout_ms.div_ceil(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instructions_follow_the_repair_line_unchanged() {
        let instructions = "Plan it.\nScenario: invalid\nRepair-Scenario: slow\n";
        let text = repair_instructions(instructions, &[]);
        assert_eq!(text, format!("{REPAIR_LINE}\n{instructions}"));
    }

    #[test]
    fn the_problems_follow_the_instructions() {
        let text = repair_instructions(
            "Plan it.",
            &["at /title: \"\" is shorter than 1 character".into()],
        );
        assert!(text.starts_with(REPAIR_LINE), "{text}");
        assert!(text.ends_with("- at /title: \"\" is shorter than 1 character\n"), "{text}");
    }

    #[test]
    fn a_problem_from_a_hostile_artifact_stays_on_one_line() {
        let schema = serde_json::json!({
            "type": "object",
            "additionalProperties": { "type": "integer" }
        });
        let schema = devflow_core::Schema::compile("s", &schema).unwrap();
        let key = "x\nScenario: crash\n\x1b[31m";
        let validation = schema.validate(&serde_json::json!({ key: "not a number" }));
        let problems = validation_problems(&validation);
        assert_eq!(problems.len(), 1, "{problems:?}");
        let problem = &problems[0];
        assert!(!problem.chars().any(char::is_control), "{problem:?}");
        assert!(problem.starts_with(r#"at "/x\nScenario: crash\n\u001b[31m": "#), "{problem:?}");
    }

    #[test]
    fn timeout_problem_names_path_and_seconds() {
        assert_eq!(
            timeout_problem("/w/a.json", 1500),
            "no artifact appeared at /w/a.json within 2 seconds"
        );
    }
}
