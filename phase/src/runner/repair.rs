//! The repair prompt: the same instructions, told that the artifact must be repaired and —
//! unlike the reference runner — told what was wrong.

use devflow_core::Validation;

const REPAIR_LINE: &str = "Repair the artifact so it conforms to the expected schema.";

/// Rewrites the instructions for a repair attempt. A `Scenario:` line (the fake agent's
/// script) becomes `Scenario: <Repair-Scenario or ok>`; the problems follow the instructions.
pub fn repair_instructions(instructions: &str, problems: &[String]) -> String {
    let repair_scenario = directive(instructions, "Repair-Scenario:").unwrap_or("ok");
    let mut lines: Vec<String> = Vec::new();
    let mut replaced = false;
    for line in instructions.lines() {
        if !replaced && directive(line, "Scenario:").is_some() {
            lines.push(format!("Scenario: {repair_scenario}"));
            lines.push(REPAIR_LINE.to_owned());
            replaced = true;
        } else {
            lines.push(line.to_owned());
        }
    }
    let mut text =
        if replaced { lines.join("\n") } else { format!("{REPAIR_LINE}\n{instructions}") };
    if !problems.is_empty() {
        text.push_str("\n\nWhat was wrong with the previous attempt:\n");
        for problem in problems {
            text.push_str(&format!("- {problem}\n"));
        }
    }
    text
}

/// One line per validation error: where, and what.
pub fn validation_problems(validation: &Validation) -> Vec<String> {
    validation
        .issues()
        .iter()
        .map(|issue| {
            let at = if issue.instance_path.is_empty() {
                "the document"
            } else {
                issue.instance_path.as_str()
            };
            format!("at {at}: {}", issue.message)
        })
        .collect()
}

pub fn timeout_problem(path: &str, timeout_ms: u64) -> String {
    format!("no artifact appeared at {path} within {} seconds", timeout_ms.div_ceil(1000))
}

/// The value of the first line that is exactly `<key> <word>`.
fn directive<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let value = line.trim_end().strip_prefix(key)?.trim();
        let is_word = !value.is_empty()
            && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        is_word.then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scenario_line_becomes_the_repair_scenario() {
        let text = repair_instructions("Plan it.\nScenario: invalid\nRepair-Scenario: slow\n", &[]);
        assert_eq!(text, format!("Plan it.\nScenario: slow\n{REPAIR_LINE}\nRepair-Scenario: slow"));
    }

    #[test]
    fn without_a_scenario_the_repair_line_leads_and_problems_follow() {
        let text = repair_instructions(
            "Plan it.",
            &["at /title: \"\" is shorter than 1 character".into()],
        );
        assert!(text.starts_with(REPAIR_LINE), "{text}");
        assert!(text.ends_with("- at /title: \"\" is shorter than 1 character\n"), "{text}");
        assert!(!text.contains("Scenario:"), "real agents get no fake-agent lines: {text}");
    }

    #[test]
    fn timeout_problem_names_path_and_seconds() {
        assert_eq!(
            timeout_problem("/w/a.json", 1500),
            "no artifact appeared at /w/a.json within 2 seconds"
        );
    }
}
