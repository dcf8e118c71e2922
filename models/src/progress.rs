//! Progress bars for long work (training, sampling, evaluation): drawn on stderr with `indicatif` when the
//! feature `progress` is on and stderr is a terminal; otherwise nothing is drawn and nothing is paid.

/// A progress bar over `0..total` units, or nothing.
pub struct Progress {
    #[cfg(feature = "progress")]
    bar: indicatif::ProgressBar,
}

impl Progress {
    /// A bar over `total` units (`unit`: "steps", "points", …) starting at `start`, drawn when `show` is true,
    /// the feature `progress` is on and stderr is a terminal.
    pub fn new(show: bool, total: usize, start: usize, unit: &str) -> Self {
        #[cfg(feature = "progress")]
        {
            use std::io::IsTerminal;
            if !show || !std::io::stderr().is_terminal() {
                return Progress {
                    bar: indicatif::ProgressBar::hidden(),
                };
            }
            let bar = indicatif::ProgressBar::new(total as u64);
            let template = format!(
                "{{spinner}} [{{elapsed_precise}}] {{bar:40}} {{pos}}/{{len}} {unit}  {{msg}}  ({{eta}} left)"
            );
            if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
                bar.set_style(style);
            }
            bar.set_position(start as u64);
            Progress { bar }
        }
        #[cfg(not(feature = "progress"))]
        {
            let _ = (show, total, start, unit);
            Progress {}
        }
    }

    /// Set the position.
    pub fn set(&self, pos: usize) {
        #[cfg(feature = "progress")]
        self.bar.set_position(pos as u64);
        #[cfg(not(feature = "progress"))]
        let _ = pos;
    }

    /// Set the message shown beside the bar.
    pub fn message(&self, msg: String) {
        #[cfg(feature = "progress")]
        self.bar.set_message(msg);
        #[cfg(not(feature = "progress"))]
        let _ = msg;
    }

    /// Finish and clear the bar.
    pub fn finish(&self) {
        #[cfg(feature = "progress")]
        self.bar.finish_and_clear();
    }

    /// Stop the bar where it is (on an error).
    pub fn abandon(&self) {
        #[cfg(feature = "progress")]
        self.bar.abandon();
    }
}
