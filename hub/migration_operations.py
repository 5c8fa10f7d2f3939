"""Migration operations Django lacks."""

from django.db import migrations


class DropFieldIndex(migrations.AlterField):
    """`AlterField` turning `db_index` off: drops only the index `db_index=True` made (and PostgreSQL's LIKE one).

    Django's own `AlterField` drops every index on the column that `Meta.indexes`
    does not name, a partial unique index of `Meta.constraints` included (a
    callback kind's repeat constraint would go with it). The field must differ
    in `db_index` only.
    """

    def _field_and_model(self, app_label, state):
        model = state.apps.get_model(app_label, self.model_name)
        return model, model._meta.get_field(self.name)

    @staticmethod
    def _like_index_sql(schema_editor, model, field):
        """PostgreSQL's LIKE index for `field` (None where the backend makes none)."""
        make = getattr(schema_editor, "_create_like_index_sql", None)
        return make(model, field) if make else None

    def _own_index_names(self, schema_editor, model, field) -> list[str]:
        table = model._meta.db_table
        names = [schema_editor._create_index_name(table, [field.column], suffix="")]
        if self._like_index_sql(schema_editor, model, field) is not None:
            names.append(schema_editor._create_index_name(table, [field.column], suffix="_like"))
        return names

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model, old = self._field_and_model(app_label, from_state)
        _, new = self._field_and_model(app_label, to_state)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        assert old.db_index and not new.db_index, f"{self.model_name}.{self.name}: DropFieldIndex only drops db_index"
        for name in self._own_index_names(schema_editor, model, old):
            schema_editor.execute(schema_editor._delete_index_sql(model, name))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model, field = self._field_and_model(app_label, to_state)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))
        like = self._like_index_sql(schema_editor, model, field)
        if like is not None:
            schema_editor.execute(like)

    def describe(self):
        return f"Drop the db_index index(es) of {self.model_name}.{self.name}"
