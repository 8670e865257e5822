"""The click commands, kept thin: they parse flags and call the plain functions of postrender/ and
cluster/. Errors become exit codes in one place (errors.MigrateError is a click exception).
"""
