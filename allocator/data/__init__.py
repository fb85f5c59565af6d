"""The data layer: the instance schema, readers of folders and workbooks, validation with
file/row/column/rule messages, the typed Instance, norms, surge scenarios, writers, the
template workbook and the synthetic city generator."""
