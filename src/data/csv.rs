//! The CSV loader: a header row naming the columns, then one sample per line. The label column (named,
//! or else the last) holds class strings, mapped to 0..k in sorted order (numerically when every label
//! is a number); every other column is a finite f32 feature. Cells are split on commas and trimmed;
//! quoting is not supported, which plain numeric tables do not need. Blank lines are skipped, `\r\n` is
//! accepted, and every error names the file and the 1-based line (blank lines count, as in an editor).

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use super::{DataError, Dataset};

/// Read the CSV file at `path`, taking labels from the column named `label` (the last when `None`).
pub(crate) fn read(path: &Path, label: Option<&str>) -> Result<Dataset, DataError> {
    let text = fs::read_to_string(path).map_err(|source| DataError::Io { path: path.to_path_buf(), source })?;
    let err = |line: usize, message: String| DataError::Csv { path: path.to_path_buf(), line, message };
    let mut lines = (1..).zip(text.lines()).filter(|(_, l)| !l.trim().is_empty());

    // The header. A byte-order mark (as spreadsheets write) is not part of the first name.
    let (header_line, header) =
        lines.next().ok_or_else(|| err(1, "empty file; expected a header row naming the columns".into()))?;
    let names = cells(header.trim_start_matches('\u{feff}'));
    for (j, name) in names.iter().enumerate() {
        if name.is_empty() {
            return Err(err(header_line, format!("column {} of the header has no name", j + 1)));
        }
        if names[..j].contains(name) {
            return Err(err(header_line, format!("column `{name}` appears twice in the header")));
        }
    }
    if names.len() < 2 {
        return Err(err(header_line, "need a label column and at least one feature column".into()));
    }
    let label_col = match label {
        None => names.len() - 1,
        Some(label) => names.iter().position(|n| *n == label).ok_or_else(|| {
            let columns: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            err(header_line, format!("label column `{label}` not found; the columns are {}", columns.join(", ")))
        })?,
    };
    let feature_cols: Vec<usize> = (0..names.len()).filter(|&j| j != label_col).collect();

    // The rows: x `[n, features]` and the label strings.
    let mut x = Vec::new();
    let mut labels: Vec<&str> = Vec::new();
    for (line, row) in lines {
        let row = cells(row);
        if row.len() != names.len() {
            return Err(err(line, format!("ragged row: {} cells, but the header has {}", row.len(), names.len())));
        }
        for &j in &feature_cols {
            let (name, cell) = (names[j], row[j]);
            let v: f32 = cell.parse().map_err(|_| err(line, format!("column `{name}`: `{cell}` is not a number")))?;
            // "NaN", "inf" and out-of-range values such as 1e39 parse, but cannot be trained on.
            if !v.is_finite() {
                return Err(err(
                    line,
                    format!("column `{name}`: `{cell}` is not a finite f32 (NaN and inf are not allowed)"),
                ));
            }
            x.push(v);
        }
        if row[label_col].is_empty() {
            return Err(err(line, format!("column `{}`: empty label", names[label_col])));
        }
        labels.push(row[label_col]);
    }
    if labels.is_empty() {
        return Err(err(header_line, "header only: no data rows follow it".into()));
    }

    let class_names = sorted_classes(&labels);
    if class_names.len() < 2 {
        return Err(err(
            header_line,
            format!(
                "label column `{}` holds a single class `{}`; a classifier needs at least two",
                names[label_col], class_names[0]
            ),
        ));
    }
    let index: HashMap<&str, u32> = (0..).zip(&class_names).map(|(i, c)| (c.as_str(), i)).collect();
    Ok(Dataset {
        x,
        y: labels.iter().map(|l| index[l]).collect(),
        features: feature_cols.len(),
        classes: class_names.len(),
        feature_names: feature_cols.iter().map(|&j| names[j].to_string()).collect(),
        class_names,
    })
}

/// The trimmed, comma-separated cells of one line.
fn cells(line: &str) -> Vec<&str> {
    line.split(',').map(str::trim).collect()
}

/// The distinct labels in class order: numeric order when every label is a finite number (so "10"
/// follows "9"), string order otherwise; equal numbers written differently ("1", "1.0") keep string order.
fn sorted_classes(labels: &[&str]) -> Vec<String> {
    let mut distinct = labels.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let number = |s: &str| s.parse::<f64>().ok().filter(|v| v.is_finite());
    if distinct.iter().all(|s| number(s).is_some()) {
        distinct.sort_by(|a, b| number(a).unwrap().total_cmp(&number(b).unwrap()));
    }
    distinct.into_iter().map(String::from).collect()
}

#[cfg(test)]
mod tests {
    use super::sorted_classes;

    #[test]
    fn numeric_labels_sort_numerically_and_others_as_strings() {
        assert_eq!(sorted_classes(&["10", "9", "-1", "10", "2.5"]), ["-1", "2.5", "9", "10"]);
        assert_eq!(sorted_classes(&["b", "10", "9", "a"]), ["10", "9", "a", "b"]);
        assert_eq!(sorted_classes(&["1.0", "1", "0"]), ["0", "1", "1.0"]);
        // "nan" parses as a float but is not a number a user means; the set sorts as strings.
        assert_eq!(sorted_classes(&["nan", "2", "10"]), ["10", "2", "nan"]);
    }
}
