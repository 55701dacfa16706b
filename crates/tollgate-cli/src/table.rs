//! Plain-text tables for the terminal: columns padded to align, two spaces
//! apart, the last column left unpadded. (A table crate would bring borders,
//! colours and width detection that the CLI's greppable output does not
//! want.)

/// The widest a column is padded to: a longer cell (a key with thousands of
/// scopes) runs on in its own row rather than padding every other row to
/// its width.
const MAX_WIDTH: usize = 40;

/// `rows` (the first is the header) as aligned lines, one per row, columns
/// padded to at most [`MAX_WIDTH`]. Each cell
/// is written [`printable`](crate::input::printable): cells hold text from
/// files and databases (a key's name, a catalog's title) that may carry
/// marks that reorder the line.
pub(crate) fn aligned<const N: usize>(rows: &[[String; N]]) -> String {
    let rows: Vec<[String; N]> = rows
        .iter()
        .map(|row| row.each_ref().map(|cell| crate::input::printable(cell)))
        .collect();
    let mut widths = [0; N];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count().min(MAX_WIDTH));
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_by_characters_and_the_last_is_not_padded() {
        let rows = [
            ["A".to_owned(), "B".to_owned(), "C".to_owned()],
            ["ééé".to_owned(), "".to_owned(), "last".to_owned()],
        ];
        assert_eq!(aligned(&rows), "A    B  C\nééé     last\n");
    }

    #[test]
    fn a_cell_past_the_widest_column_runs_on_in_its_own_row() {
        let long = "s".repeat(5000);
        let rows = [
            ["A".to_owned(), "B".to_owned()],
            [long.clone(), "b".to_owned()],
            ["a".to_owned(), "b".to_owned()],
        ];
        let table = aligned(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[1], format!("{long}  b"));
        assert_eq!(lines[2], format!("a{}  b", " ".repeat(MAX_WIDTH - 1)));
    }

    #[test]
    fn cells_are_escaped_before_they_are_measured() {
        let rows = [
            ["A".to_owned(), "B".to_owned()],
            ["x\u{202e}y".to_owned(), "\u{1b}[2K".to_owned()],
        ];
        assert_eq!(aligned(&rows), "A           B\nx\\u{202e}y  \\u{1b}[2K\n");
    }
}
