"""The registry docs: committed pages current with the schema, and the rendering in tfplugindocs' words."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from provider import docgen
from provider.cty import types as cty
from provider.dbaas import DbaasProvider
from provider.framework.plan_modifiers import REQUIRES_REPLACE, USE_STATE_FOR_UNKNOWN
from provider.framework.schema import Attribute, Block, NestedAttributes, NestedBlock, Schema


def test_committed_docs_are_current() -> None:
    problems = docgen.stale()
    assert not problems, "docs/ is not current: run `make docs` (python -m provider.docgen)\n" + "\n".join(problems)


def test_check_mode_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert docgen.main(["--check"]) == 0, capsys.readouterr().err


@pytest.mark.parametrize(
    ("directory", "item"),
    [
        *(pytest.param(f"resources/{item.type_name}", item, id=item.type_name) for item in DbaasProvider.resources),
        *(
            pytest.param(f"data-sources/{item.type_name}", item, id=f"data.{item.type_name}")
            for item in DbaasProvider.data_sources
        ),
    ],
)
def test_every_registered_type_has_its_examples(directory: str, item: docgen.Documented) -> None:
    examples = docgen.REPO / "examples" / directory
    wanted = ["resource.tf", "import.sh", "import.tf"] if directory.startswith("resources/") else ["data-source.tf"]
    assert [name for name in wanted if not (examples / name).is_file()] == [], f"examples/{directory} is incomplete"
    assert f'"{item.type_name}"' in (examples / wanted[0]).read_text()


def test_check_lists_changed_missing_and_left_over_pages(tmp_path: Path) -> None:
    shutil.copytree(docgen.REPO / "examples", tmp_path / "examples")
    assert docgen.main(["--root", str(tmp_path)]) == 0
    assert docgen.stale(tmp_path) == []
    (tmp_path / "docs" / "resources" / "service.md").write_text("edited by hand\n")
    (tmp_path / "docs" / "data-sources" / "regions.md").unlink()
    (tmp_path / "docs" / "resources" / "gone.md").write_text("a resource no longer registered\n")
    (tmp_path / "docs" / "guides").mkdir()
    (tmp_path / "docs" / "guides" / "quickstart.md").write_text("hand-written, not the generator's\n")
    assert docgen.stale(tmp_path) == [
        "docs/data-sources/regions.md",
        "docs/resources/gone.md",
        "docs/resources/service.md",
    ]
    assert docgen.main(["--root", str(tmp_path), "--check"]) == 1
    docgen.write(tmp_path)
    assert docgen.stale(tmp_path) == [] and not (tmp_path / "docs" / "resources" / "gone.md").exists()
    assert (tmp_path / "docs" / "guides" / "quickstart.md").exists()


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        (cty.STRING, "String"),
        (cty.NUMBER, "Number"),
        (cty.BOOL, "Boolean"),
        (cty.DYNAMIC, "Dynamic"),
        (cty.List(cty.STRING), "List of String"),
        (cty.Set(cty.STRING), "Set of String"),
        (cty.Map(cty.NUMBER), "Map of Number"),
        (cty.List(cty.Map(cty.BOOL)), "List of Map of Boolean"),
        (cty.object_type({"a": cty.STRING}), "Object"),
        (cty.Tuple((cty.STRING,)), "Tuple"),
    ],
)
def test_types_in_tfplugindocs_words(kind: cty.Type, words: str) -> None:
    assert docgen.render_type(kind) == words


def test_groups_sorted_with_sensitive_flag() -> None:
    rendered = docgen.render_schema(
        Block(
            attributes={
                "zone": Attribute(type=cty.STRING, required=True, description="Where."),
                "name": Attribute(type=cty.STRING, required=True),
                "labels": Attribute(type=cty.Map(cty.STRING), optional=True, computed=True, description="Labels."),
                "password": Attribute(type=cty.STRING, computed=True, sensitive=True, description="The secret."),
                "id": Attribute(type=cty.STRING, computed=True),
            }
        )
    )
    assert rendered == (
        "## Schema\n\n"
        "### Required\n\n- `name` (String)\n- `zone` (String) Where.\n\n"
        "### Optional\n\n- `labels` (Map of String) Labels.\n\n"
        "### Read-Only\n\n- `id` (String) The ID of this resource.\n- `password` (String, Sensitive) The secret.\n\n"
    )


def test_nested_attributes_get_their_section() -> None:
    rendered = docgen.render_schema(
        Block(
            attributes={
                "user_config": Attribute(
                    optional=True,
                    description="Settings.",
                    nested=NestedAttributes(
                        {
                            "regions": Attribute(type=cty.Set(cty.STRING), optional=True, description="Copies."),
                            "window": Attribute(
                                computed=True,
                                nested=NestedAttributes({"start": Attribute(type=cty.STRING, computed=True)}, "list"),
                            ),
                        }
                    ),
                ),
            }
        )
    )
    link = "(see [below for nested schema](#nestedatt--user_config))"
    assert f"- `user_config` (Attributes) Settings. {link}\n" in rendered
    assert (
        '<a id="nestedatt--user_config"></a>\n### Nested Schema for `user_config`\n\n'
        "Optional:\n\n- `regions` (Set of String) Copies.\n\n"
        "Read-Only:\n\n- `window` (Attributes List) (see [below for nested schema]"
        "(#nestedatt--user_config--window))\n\n"
    ) in rendered
    assert (
        '<a id="nestedatt--user_config--window"></a>\n### Nested Schema for `user_config.window`\n\n'
        "Read-Only:\n\n- `start` (String)\n"
    ) in rendered


def test_blocks_and_object_types() -> None:
    rendered = docgen.render_schema(
        Schema(
            Block(
                attributes={"limits": Attribute(type=cty.List(cty.object_type({"cpu": cty.NUMBER})), optional=True)},
                blocks={
                    "timeouts": NestedBlock(
                        Block({"create": Attribute(type=cty.STRING, optional=True)}, description="Waits."),
                        nesting="single",
                    ),
                    "rule": NestedBlock(Block({"port": Attribute(type=cty.NUMBER, required=True)}), min_items=1),
                },
            )
        )
    )
    link = "(see [below for nested schema](#nestedblock--{}))"
    assert f"### Required\n\n- `rule` (Block List, Min: 1) {link.format('rule')}" in rendered
    assert f"- `timeouts` (Block, Optional) Waits. {link.format('timeouts')}" in rendered
    assert (
        '<a id="nestedblock--rule"></a>\n### Nested Schema for `rule`\n\nRequired:\n\n- `port` (Number)\n' in rendered
    )
    assert (
        '<a id="nestedatt--limits"></a>\n### Nested Schema for `limits`\n\nOptional:\n\n- `cpu` (Number)\n' in rendered
    )


def test_page_layout(tmp_path: Path) -> None:
    example, import_block, import_command = tmp_path / "resource.tf", tmp_path / "import.tf", tmp_path / "import.sh"
    example.write_text('resource "x_thing" "a" {}\n\n')
    import_block.write_text('import {\n  to = x_thing.a\n  id = "p/a"\n}\n')
    import_command.write_text("terraform import x_thing.a p/a\n")
    page = docgen.render_page(
        title="x_thing Resource - x",
        heading="x_thing (Resource)",
        description="A `thing`; see [docs](https://example.com).",
        schema=Schema(Block({"id": Attribute(type=cty.STRING, computed=True)})),
        example=example,
        import_block=import_block,
        import_command=import_command,
    )
    assert page.startswith("---\n# generated by provider/docgen.py")
    assert (
        'page_title: "x_thing Resource - x"\nsubcategory: ""\ndescription: |-\n'
        "  A thing; see docs https://example.com.\n---\n\n# x_thing (Resource)\n\n"
        "A `thing`; see [docs](https://example.com).\n\n"
        '## Example Usage\n\n```terraform\nresource "x_thing" "a" {}\n```\n\n'
    ) in page
    assert page.endswith(
        "## Import\n\nIn Terraform 1.5 and later, an `import` block imports an existing object by its ID:\n\n"
        '```terraform\nimport {\n  to = x_thing.a\n  id = "p/a"\n}\n```\n\n'
        "The `terraform import` command does the same:\n\n```shell\nterraform import x_thing.a p/a\n```\n"
    )
    command_only = docgen.render_page(
        title="t", heading="h", description="d", schema=Schema(Block()), import_command=import_command
    )
    assert command_only.endswith(
        "## Import\n\nImport is supported using `terraform import`:\n\n```shell\nterraform import x_thing.a p/a\n```\n"
    )
    without = docgen.render_page(
        title="t",
        heading="h",
        description="d",
        schema=Schema(Block()),
        example=tmp_path / "absent.tf",
        import_block=tmp_path / "absent-import.tf",
        import_command=tmp_path / "absent.sh",
    )
    assert "## Example Usage" not in without and "## Import" not in without


def test_forces_replacement_where_requires_replace_applies() -> None:
    rendered = docgen.render_schema(
        Block(
            attributes={
                "name": Attribute(type=cty.STRING, required=True, plan_modifiers=(REQUIRES_REPLACE,), description="N."),
                "plan": Attribute(type=cty.STRING, required=True, description="P."),
                "version": Attribute(
                    type=cty.STRING,
                    optional=True,
                    computed=True,
                    plan_modifiers=(USE_STATE_FOR_UNKNOWN, REQUIRES_REPLACE),
                ),
                "host": Attribute(type=cty.STRING, computed=True, plan_modifiers=(USE_STATE_FOR_UNKNOWN,)),
                "source": Attribute(
                    optional=True,
                    plan_modifiers=(REQUIRES_REPLACE,),
                    nested=NestedAttributes(
                        {"handle": Attribute(type=cty.STRING, required=True, plan_modifiers=(REQUIRES_REPLACE,))}
                    ),
                ),
            }
        )
    )
    assert "- `name` (String, Forces replacement) N.\n- `plan` (String) P.\n" in rendered
    assert "- `version` (String, Forces replacement)\n" in rendered
    assert "- `host` (String)\n" in rendered
    assert "- `source` (Attributes, Forces replacement) (see" in rendered
    assert "Required:\n\n- `handle` (String, Forces replacement)\n" in rendered


def test_registered_pages_mark_what_forces_replacement() -> None:
    service = next(page.text for page in docgen.pages() if page.path == "docs/resources/service.md")
    assert "- `name` (String, Forces replacement)" in service
    assert "- `plan` (String) " in service, "a plan change is made in place"


def test_undescribed_lists_every_level() -> None:
    block = Block(
        attributes={
            "a": Attribute(type=cty.STRING, required=True, description="A."),
            "b": Attribute(type=cty.STRING, optional=True),
            "c": Attribute(
                computed=True,
                description="C.",
                nested=NestedAttributes({"d": Attribute(type=cty.STRING, computed=True)}, "list"),
            ),
        },
        blocks={"e": NestedBlock(Block({"f": Attribute(type=cty.STRING, optional=True, description="F.")}))},
    )
    assert docgen.undescribed(block) == ["b", "c.d", "e"]


def test_every_registered_attribute_is_described() -> None:
    assert docgen.undescribed_attributes() == []


def test_pages_and_examples_link_nowhere_outside_the_repository() -> None:
    texts = {page.path: page.text for page in docgen.pages()}
    for pattern in ("*.tf", "*.md", "*.hcl"):
        texts |= {str(path): path.read_text() for path in (docgen.REPO / "examples").rglob(pattern)}
    outside = {path for path, text in texts.items() if re.search(r"\bhttps?://(?!127\.0\.0\.1|localhost)", text)}
    assert outside == set()
