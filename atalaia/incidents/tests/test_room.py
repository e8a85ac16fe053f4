from atalaia.incidents.actions import declare_incident


def test_room_explains_the_level_in_the_readers_language(demo, personas, clients):
    incident = declare_incident(personas["commander"], "Login <down>", ["auth"])
    english = clients["viewer"].get(f"/incidents/{incident.pk}/").content.decode()
    assert "rule 2 (most users or two critical systems): users_share &gt;= 0.5 (is 0.7058)" \
        in english
    assert "Login &lt;down&gt;" in english and "Login <down>" not in english
    personas["viewer"].language = "pt-br"
    personas["viewer"].save()
    portuguese = clients["viewer"].get(f"/incidents/{incident.pk}/").content.decode()
    assert ("regra 2 (a maioria dos usuários ou dois sistemas críticos): "
            "proporção de usuários &gt;= 0.5 (é 0.7058)") in portuguese
    assert "Incidente crítico" in portuguese
    assert "1.079.800" in portuguese  # numbers grouped the Brazilian way
    # The API keeps the English reason, which names the plan file's metrics.
    assert incident.plan_level_reason.startswith("rule 2 (most users")
