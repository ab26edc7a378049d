//! The interactive loop: line editing with history in the user's home directory, multi-line
//! statements, Ctrl-C to clear the line or cancel a query, Ctrl-D to quit.

use std::path::PathBuf;

use datafusion::error::Result;
use rustyline::error::ReadlineError;
use rustyline::{Config, Editor, history::DefaultHistory};

use super::complete::ShellHelper;
use super::{Flow, Shell, command};

fn history_path() -> Option<PathBuf> {
    dirs::home_dir().map(|home| home.join(".quiver_history"))
}

pub(crate) async fn run(shell: &mut Shell) -> Result<()> {
    let config = Config::builder()
        .auto_add_history(true)
        .max_history_size(10_000)
        .map_err(readline_error)?
        .build();
    let mut editor: Editor<ShellHelper, DefaultHistory> =
        Editor::with_config(config).map_err(readline_error)?;
    let history = history_path();
    if let Some(path) = &history {
        // A missing history file is normal on first use.
        let _ = editor.load_history(path);
    }
    println!(
        "quiver {} — .help for commands, Ctrl-D to quit",
        env!("CARGO_PKG_VERSION")
    );
    loop {
        let mut helper = ShellHelper::default();
        helper.refresh(shell.engine()).await;
        editor.set_helper(Some(helper));
        // rustyline blocks: keep it off the async workers.
        let line = tokio::task::block_in_place(|| editor.readline("quiver> "));
        match line {
            Ok(line) => {
                let outcome = if command::is_command(&line) {
                    shell.run_command(&line).await
                } else if line.trim().is_empty() {
                    Ok(Flow::Continue)
                } else {
                    shell.run_sql(&line).await.map(|()| Flow::Continue)
                };
                match outcome {
                    Ok(Flow::Quit) => break,
                    Ok(Flow::Continue) => {}
                    Err(e) => eprintln!("Error: {}", crate::error::user_message(&e)),
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("Error: {e}");
                break;
            }
        }
    }
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    Ok(())
}

fn readline_error(e: ReadlineError) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::External(Box::new(e))
}
