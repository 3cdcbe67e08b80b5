//! The files each CLI reads at start, written into a role's throwaway HOME: all of what the
//! examples' comments (and /work/notes/agents.md) say for [`Config::Complete`], the same less
//! the folder trust for [`Config::AllButTrust`], and only what keeps the CLI off the network for
//! [`Config::Nothing`].

use std::path::Path;

use serde_json::json;

use super::stub::API_KEY;
use super::world::{AgentWorld, Cli, Config};

pub fn write_home(world: &AgentWorld, home: &Path) {
    let wt = world.worktree();
    let wt = wt.to_str().unwrap();
    let write = |path: &str, text: String| {
        let path = home.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    let config = world.config;
    let trusted = config == Config::Complete;
    let complete = config != Config::Nothing;
    match world.cli {
        Cli::ClaudeCode => {
            let mut claude = json!({ "hasCompletedOnboarding": true });
            if complete {
                let key_tail = &API_KEY[API_KEY.len() - 20..];
                claude["customApiKeyResponses"] = json!({ "approved": [key_tail], "rejected": [] });
                write(
                    ".claude/settings.json",
                    r#"{"skipDangerousModePermissionPrompt": true}"#.into(),
                );
            }
            if trusted {
                claude["projects"] = json!({ wt: { "hasTrustDialogAccepted": true } });
            }
            write(".claude.json", claude.to_string());
        }
        Cli::Codex => {
            let mut text = String::from("check_for_update_on_startup = false\n");
            if complete {
                text = format!(
                    "model = \"stub-model\"\nmodel_provider = \"stub\"\n{text}\n[model_providers.stub]\n\
                     name = \"devflow model stub\"\nbase_url = \"{}/v1\"\nenv_key = \"STUB_API_KEY\"\n\
                     wire_api = \"responses\"\n",
                    world.stub_url()
                );
            }
            if trusted {
                text += &format!("\n[projects.\"{wt}\"]\ntrust_level = \"trusted\"\n");
            }
            write(".codex/config.toml", text);
        }
        Cli::Gemini => {
            let mut settings = json!({
                "general": { "enableAutoUpdate": false, "enableAutoUpdateNotification": false },
                "privacy": { "usageStatisticsEnabled": false },
                "telemetry": { "enabled": false },
            });
            if complete {
                settings["security"] = json!({ "auth": { "selectedType": "gemini-api-key" } });
            }
            write(".gemini/settings.json", settings.to_string());
            if trusted {
                write(".gemini/trustedFolders.json", json!({ wt: "TRUST_FOLDER" }).to_string());
            }
        }
        Cli::Aider => write(
            "stub-model.metadata.json",
            json!({ "openai/stub-model": {
                "max_input_tokens": 200000, "max_output_tokens": 8192, "input_cost_per_token": 0,
                "output_cost_per_token": 0, "litellm_provider": "openai", "mode": "chat",
            }})
            .to_string(),
        ),
    }
}

/// Aider's model flags, pointed at the stub: the whole-file format the stub answers in, no
/// repository map (short requests), the model's metadata (no price-list download at start),
/// and its history files outside the worktree. The key is in the environment (OPENAI_API_KEY).
pub fn aider_model_flags(home: &str, url: &str) -> Vec<String> {
    [
        "--model",
        "openai/stub-model",
        "--openai-api-base",
        &format!("{url}/v1"),
        "--edit-format",
        "whole",
        "--map-tokens",
        "0",
        "--input-history-file",
        &format!("{home}/aider.input.history"),
        "--chat-history-file",
        &format!("{home}/aider.chat.history.md"),
        "--model-metadata-file",
        &format!("{home}/stub-model.metadata.json"),
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}
