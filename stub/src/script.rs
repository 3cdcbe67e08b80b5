//! The test's directions inside a prompt: the artifact path, the valid artifact, the script.

/// The line that names the artifact (devflow's prompt layout; the last one counts).
pub const ARTIFACT_LINE: &str = "Artifact: ";
/// The line with the script of steps for the artifact's prompts.
pub const SCRIPT_LINE: &str = "Model-Script:";
/// What an `invalid` step writes: not JSON, so no schema accepts it.
pub const INVALID_ARTIFACT: &str = "{\"devflow_model_stub\": \"an invalid artifact\"";
/// The words that open the paragraph in which devflow gives the schema, after the workflow's
/// instructions (devflow's prompt layout, `devflow_session::SCHEMA_INTRO`): the script and the
/// valid artifact are read only before it, so the schema's own ```` ```json ```` block is never
/// taken for the artifact.
pub const SCHEMA_INTRO: &str = "The artifact must validate against this JSON Schema";
/// The prefix of devflow's prompt marker, followed by 16 lowercase hex digits.
pub const MARKER_PREFIX: &str = "devflow-prompt ";
const MARKER_DIGITS: usize = 16;

/// What the model does for one prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Ok,
    Invalid,
    None,
}

/// What a prompt tells the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directions {
    pub artifact: Option<String>,
    /// The first ```json block, verbatim.
    pub valid: Option<String>,
    /// `Model-Script:` steps; empty means every prompt is `ok`.
    pub steps: Vec<Step>,
}

impl Directions {
    /// The artifact from the whole prompt (its last `Artifact:` line comes after everything
    /// else); the script and the valid artifact from the workflow's instructions alone.
    pub fn parse(prompt: &str) -> Result<Directions, String> {
        let artifact = prompt
            .lines()
            .rev()
            .find_map(|line| line.trim().strip_prefix(ARTIFACT_LINE))
            .map(|path| path.trim().to_owned())
            .filter(|path| !path.is_empty());
        let instructions = instructions(prompt);
        let steps =
            match instructions.lines().find_map(|line| line.trim().strip_prefix(SCRIPT_LINE)) {
                Some(script) => parse_steps(script)?,
                None => Vec::new(),
            };
        Ok(Directions { artifact, valid: json_block(instructions), steps })
    }

    /// The step of the `nth` prompt (0-based) for the artifact: the last step repeats.
    pub fn step(&self, nth: usize) -> Step {
        match self.steps.last() {
            None => Step::Ok,
            Some(last) => *self.steps.get(nth).unwrap_or(last),
        }
    }

    /// The bytes a step writes, or `None` for a step that writes nothing.
    pub fn content(&self, step: Step) -> Option<String> {
        match step {
            Step::Ok => Some(self.valid.clone().unwrap_or_else(|| "{}\n".to_owned())),
            Step::Invalid => Some(format!("{INVALID_ARTIFACT}\n")),
            Step::None => None,
        }
    }
}

fn parse_steps(script: &str) -> Result<Vec<Step>, String> {
    script
        .split(',')
        .map(str::trim)
        .filter(|step| !step.is_empty())
        .map(|step| match step {
            "ok" => Ok(Step::Ok),
            "invalid" => Ok(Step::Invalid),
            "none" => Ok(Step::None),
            other => Err(format!(
                "unknown step `{other}` in `{SCRIPT_LINE}{script}` (known: ok, invalid, none)"
            )),
        })
        .collect()
}

/// The workflow's instructions in a prompt: the text before the first line that opens with
/// [`SCHEMA_INTRO`] (all of it when none does).
fn instructions(prompt: &str) -> &str {
    let mut at = 0;
    for line in prompt.split_inclusive('\n') {
        if line.starts_with(SCHEMA_INTRO) {
            return &prompt[..at];
        }
        at += line.len();
    }
    prompt
}

/// The body of the first fence opened by exactly ```` ```json ````, with its final newline.
fn json_block(prompt: &str) -> Option<String> {
    let mut lines = prompt.lines();
    lines.by_ref().find(|line| line.trim() == "```json")?;
    let mut body = String::new();
    for line in lines {
        if line.trim() == "```" {
            return Some(body);
        }
        body.push_str(line);
        body.push('\n');
    }
    None
}

/// The first `devflow-prompt <16 lowercase hex digits>` in the text.
pub fn marker(text: &str) -> Option<String> {
    let mut rest = text;
    while let Some(at) = rest.find(MARKER_PREFIX) {
        let after = &rest[at + MARKER_PREFIX.len()..];
        let digits = after.as_bytes().iter().take(MARKER_DIGITS);
        if after.len() >= MARKER_DIGITS
            && digits.clone().count() == MARKER_DIGITS
            && digits.into_iter().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Some(rest[at..at + MARKER_PREFIX.len() + MARKER_DIGITS].to_owned());
        }
        rest = &rest[at + MARKER_PREFIX.len()..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMPT: &str = "devflow-prompt 0123456789abcdef\nPlan it.\nModel-Script: invalid, ok\n```json\n{\"title\": \"x\"}\n```\n\nThe artifact must validate against this JSON Schema (plan):\n\n```json\n{}\n```\n\nWrite the result as JSON to the artifact path below.\nArtifact: /w/out/plan.json\nSchema: plan";

    #[test]
    fn reads_the_artifact_the_block_and_the_script() {
        let directions = Directions::parse(PROMPT).unwrap();
        assert_eq!(directions.artifact.as_deref(), Some("/w/out/plan.json"));
        assert_eq!(directions.valid.as_deref(), Some("{\"title\": \"x\"}\n"));
        assert_eq!(directions.steps, [Step::Invalid, Step::Ok]);
        assert_eq!(directions.step(0), Step::Invalid);
        assert_eq!(directions.step(1), Step::Ok);
        assert_eq!(directions.step(5), Step::Ok, "the last step repeats");
    }

    #[test]
    fn without_a_script_every_prompt_is_ok_and_the_schema_block_is_no_artifact() {
        let prompt = "Plan it.\n\nThe artifact must validate against this JSON Schema (s):\n\n```json\n{\"type\": \"object\"}\n```\nModel-Script: none\nArtifact: /a.json";
        let directions = Directions::parse(prompt).unwrap();
        assert_eq!(directions.step(0), Step::Ok, "a script after the schema is not the test's");
        assert_eq!(directions.valid, None);
        assert_eq!(directions.artifact.as_deref(), Some("/a.json"));
        assert_eq!(directions.content(Step::Ok).as_deref(), Some("{}\n"));
        assert_eq!(directions.content(Step::None), None);
    }

    #[test]
    fn an_unknown_step_is_an_error_that_names_it() {
        let error = Directions::parse("Model-Script: ok, maybe").unwrap_err();
        assert!(error.contains("`maybe`"), "{error}");
    }

    #[test]
    fn the_marker_is_the_first_with_sixteen_hex_digits() {
        assert_eq!(marker("no marker"), None);
        assert_eq!(
            marker("devflow-prompt 12x\ndevflow-prompt 0123456789abcdef tail").as_deref(),
            Some("devflow-prompt 0123456789abcdef")
        );
        assert_eq!(marker("devflow-prompt 0123456789ABCDEF"), None);
        assert_eq!(marker("devflow-prompt 0123"), None);
    }
}
