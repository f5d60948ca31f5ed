//! The CSV loader, on the `csv` crate so files read as other tools write them: quoted fields
//! (`"1.0","2.0","yes"`, as `pandas.to_csv(quoting=QUOTE_ALL)` writes), any one-byte delimiter (`,` by
//! default, tab for `.tsv` files, `;` as European spreadsheets export). A header row names the columns,
//! then one sample per line. The label column (named, or else the last) holds class strings, mapped to
//! 0..k in sorted order (numerically when every label is a number); every other column is a finite f32
//! feature. Cells are trimmed, blank lines skipped, `\r\n` and a byte-order mark accepted, and every error
//! names the file and the 1-based line (blank lines count, as in an editor) and the column.

use std::collections::HashMap;
use std::path::Path;

use super::{DataError, Dataset, Files};

/// The delimiter a file gets without `--delimiter`: tab for `.tsv`, a comma otherwise.
pub fn default_delimiter(path: &Path) -> u8 {
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("tsv") => b'\t',
        _ => b',',
    }
}

/// Read the CSV file at `path` from `files`, taking labels from the column named `label` (the last when
/// `None`), with cells separated by `delimiter` (by the file's extension when `None`).
pub(crate) fn read(
    files: &dyn Files,
    path: &Path,
    label: Option<&str>,
    delimiter: Option<u8>,
) -> Result<Dataset, DataError> {
    from_bytes(path, &files.read(path)?, label, delimiter)
}

/// A CSV file's contents `bytes` as a dataset (`path` names it in errors).
fn from_bytes(path: &Path, bytes: &[u8], label: Option<&str>, delimiter: Option<u8>) -> Result<Dataset, DataError> {
    let err = |line: usize, message: String| DataError::Csv { path: path.to_path_buf(), line, message };
    // The csv crate does not count the blank lines it skips (a record's position is where the reader
    // stood, before them); an editor does, so lines come from byte offsets past any line breaks.
    let line_starts: Vec<usize> =
        std::iter::once(0).chain(bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1)).collect();
    let line_of = |p: Option<&csv::Position>| {
        let mut at = p.map_or(0, |p| p.byte() as usize);
        while matches!(bytes.get(at), Some(b'\n' | b'\r')) {
            at += 1;
        }
        line_starts.partition_point(|&s| s <= at)
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter.unwrap_or_else(|| default_delimiter(path)))
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = line_of(e.position());
            match e.into_kind() {
                csv::ErrorKind::Io(source) => DataError::Io { path: path.to_path_buf(), source },
                csv::ErrorKind::Utf8 { err, .. } => {
                    err_at(path, line, format!("column {}: not valid UTF-8 text", err.field() + 1))
                }
                kind => err_at(path, line, format!("{kind:?}")),
            }
        })?;
        // A line of spaces is a record of one empty cell: blank, like an empty line.
        if record.iter().all(str::is_empty) {
            continue;
        }
        let line = line_of(record.position());
        rows.push((line, record));
    }
    let mut rows = rows.into_iter();

    // The header. A byte-order mark (as spreadsheets write) is not part of the first name.
    let (header_line, header) =
        rows.next().ok_or_else(|| err(1, "empty file; expected a header row naming the columns".into()))?;
    let names: Vec<&str> =
        header.iter().enumerate().map(|(j, n)| if j == 0 { n.trim_start_matches('\u{feff}') } else { n }).collect();
    for (j, name) in names.iter().enumerate() {
        if name.is_empty() {
            return Err(err(header_line, format!("column {} of the header has no name", j + 1)));
        }
        if names[..j].contains(name) {
            return Err(err(header_line, format!("column `{name}` appears twice in the header")));
        }
    }
    if names.len() < 2 {
        let hint = match delimiter {
            None if header.iter().any(|n| n.contains(';') || n.contains('\t')) => {
                " (the header holds `;` or a tab: pass --delimiter ';' or --delimiter tab)"
            }
            _ => "",
        };
        return Err(err(header_line, format!("need a label column and at least one feature column{hint}")));
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
    let mut labels: Vec<String> = Vec::new();
    for (line, row) in rows {
        if row.len() != names.len() {
            return Err(err(line, format!("ragged row: {} cells, but the header has {}", row.len(), names.len())));
        }
        for &j in &feature_cols {
            let (name, cell) = (names[j], &row[j]);
            let v: f32 =
                cell.parse().map_err(|_| err(line, format!("column {} `{name}`: `{cell}` is not a number", j + 1)))?;
            // "NaN", "inf" and out-of-range values such as 1e39 parse, but cannot be trained on.
            if !v.is_finite() {
                return Err(err(
                    line,
                    format!("column {} `{name}`: `{cell}` is not a finite f32 (NaN and inf are not allowed)", j + 1),
                ));
            }
            x.push(v);
        }
        if row[label_col].is_empty() {
            return Err(err(line, format!("column {} `{}`: empty label", label_col + 1, names[label_col])));
        }
        labels.push(row[label_col].to_string());
    }
    if labels.is_empty() {
        return Err(err(header_line, "header only: no data rows follow it".into()));
    }

    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
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

fn err_at(path: &Path, line: usize, message: String) -> DataError {
    DataError::Csv { path: path.to_path_buf(), line, message }
}

/// Parses `--delimiter`: one ASCII character, or `tab`.
pub fn parse_delimiter(text: &str) -> Result<u8, String> {
    let byte = match text {
        "tab" | "\\t" | "\t" => b'\t',
        _ if text.len() == 1 && text.is_ascii() => text.as_bytes()[0],
        _ => return Err(format!("--delimiter must be one ASCII character or `tab`, got `{text}`")),
    };
    match byte {
        b'"' | b'\n' | b'\r' => Err(format!("--delimiter cannot be {text:?}: it is the quote or a line break")),
        _ => Ok(byte),
    }
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
    use super::{parse_delimiter, sorted_classes};

    #[test]
    fn numeric_labels_sort_numerically_and_others_as_strings() {
        assert_eq!(sorted_classes(&["10", "9", "-1", "10", "2.5"]), ["-1", "2.5", "9", "10"]);
        assert_eq!(sorted_classes(&["b", "10", "9", "a"]), ["10", "9", "a", "b"]);
        assert_eq!(sorted_classes(&["1.0", "1", "0"]), ["0", "1", "1.0"]);
        // "nan" parses as a float but is not a number a user means; the set sorts as strings.
        assert_eq!(sorted_classes(&["nan", "2", "10"]), ["10", "2", "nan"]);
    }

    #[test]
    fn delimiters_are_one_ascii_character_or_tab() {
        assert_eq!(parse_delimiter(";"), Ok(b';'));
        assert_eq!(parse_delimiter("tab"), Ok(b'\t'));
        assert_eq!(parse_delimiter("|"), Ok(b'|'));
        assert!(parse_delimiter(";;").unwrap_err().contains("one ASCII character"));
        assert!(parse_delimiter("\"").unwrap_err().contains("quote"));
        assert!(parse_delimiter("é").is_err());
    }
}
