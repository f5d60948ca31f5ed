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
            return Err(err(header_line, format!("column `{}` appears twice in the header", crate::text::quote(name))));
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
            let (name, cell) = (crate::text::quote(names[j]), &row[j]);
            let shown = crate::text::quote(cell);
            let v: f32 =
                cell.parse().map_err(|_| err(line, format!("column {} `{name}`: `{shown}` is not a number", j + 1)))?;
            // "NaN", "inf" and out-of-range values such as 1e39 parse, but cannot be trained on.
            if !v.is_finite() {
                return Err(err(
                    line,
                    format!(
                        "column {} `{name}`: `{shown}` is not a finite f32 (NaN, inf and magnitudes past 3.4e38 are \
                         not allowed)",
                        j + 1
                    ),
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
    let (class_names, y) = classes(&labels);
    let column = names[label_col];
    if class_names.len() < 2 {
        return Err(err(
            header_line,
            format!(
                "label column `{column}` holds a single class `{}`; a classifier needs at least two",
                class_names[0]
            ),
        ));
    }
    if class_names.len() > MIN_CLASSES_PER_CHECK.max(labels.len() / 2) {
        return Err(err(
            header_line,
            format!(
                "label column `{column}` has {} distinct values in {} rows: is it a regression target or an \
                 identifier? vanish trains classifiers; pass --label with the class column",
                class_names.len(),
                labels.len()
            ),
        ));
    }
    Ok(Dataset {
        x,
        y,
        features: feature_cols.len(),
        classes: class_names.len(),
        feature_names: feature_cols.iter().map(|&j| names[j].to_string()).collect(),
        class_names,
    })
}

/// A label column may have this many classes however few its rows; beyond it, at most one class per
/// two rows (more is a regression target or an identifier, not classes).
const MIN_CLASSES_PER_CHECK: usize = 10;

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

/// The classes of `labels` in order, and each label's class. When every label is a finite number the
/// classes are values, in numeric order: `1` and `1.0` (or `0` and `-0`) are one class, named by its
/// shortest form, and `10` follows `9`. Otherwise they are the distinct strings, in string order.
fn classes(labels: &[&str]) -> (Vec<String>, Vec<u32>) {
    let number = |s: &str| s.parse::<f64>().ok().filter(|v| v.is_finite());
    if labels.iter().all(|s| number(s).is_some()) {
        // `+ 0.0` turns -0 into 0, so both are one class.
        let values: Vec<f64> = labels.iter().map(|s| number(s).unwrap() + 0.0).collect();
        let mut distinct = values.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        let y = values.iter().map(|v| distinct.partition_point(|d| d < v) as u32).collect();
        (distinct.iter().map(|&v| crate::text::number(v)).collect(), y)
    } else {
        let mut distinct = labels.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        let index: HashMap<&str, u32> = (0..).zip(&distinct).map(|(i, c)| (*c, i)).collect();
        (distinct.iter().map(|s| s.to_string()).collect(), labels.iter().map(|l| index[l]).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::{classes, parse_delimiter};

    #[test]
    fn numeric_labels_are_values_in_numeric_order_and_others_strings() {
        assert_eq!(
            classes(&["10", "9", "-1", "10", "2.5"]),
            (vec!["-1".into(), "2.5".into(), "9".into(), "10".into()], vec![3, 2, 0, 3, 1])
        );
        assert_eq!(classes(&["b", "10", "9", "a"]).0, ["10", "9", "a", "b"]);
        // One value, however it is written.
        assert_eq!(classes(&["1.0", "1", "0", "-0"]), (vec!["0".into(), "1".into()], vec![1, 1, 0, 0]));
        // "nan" parses as a float but is not a number a user means; the set sorts as strings.
        assert_eq!(classes(&["nan", "2", "10"]).0, ["10", "2", "nan"]);
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
