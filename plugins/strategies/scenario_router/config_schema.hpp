// scenario_router's config, as the JSON Schema (draft 7) the host validates a stage's config with.
#pragma once

namespace tianshu::scenario_router {

inline constexpr const char* kConfigSchema = R"schema({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "definitions": {
    "models": {
      "oneOf": [
        {"type": "string", "minLength": 1},
        {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}
      ]
    }
  },
  "properties": {
    "scenarios": {
      "type": "object",
      "description": "scenario -> a model or ordered candidates (first preferred)",
                            "properties" : {
                                "main" : {"$ref" : "#/definitions/models"},
                                "subagent" : {"$ref" : "#/definitions/models"},
                                "background" : {"$ref" : "#/definitions/models"},
                                "compact" : {"$ref" : "#/definitions/models"},
                                "think" : {"$ref" : "#/definitions/models"},
                                "long_context" : {"$ref" : "#/definitions/models"},
                                "image" : {"$ref" : "#/definitions/models"},
                                "web_search" : {"$ref" : "#/definitions/models"},
                                "tool_continuation" : {"$ref" : "#/definitions/models"}
                            },
                            "additionalProperties" : false
}
, "order" : {
    "type" : "array",
    "items" : {"type" : "string", "minLength" : 1},
    "description" : "the ladder a session climbs on a hard trigger, weakest first"
},
            "long_context_tokens" : {"type" : "integer", "minimum" : 1},
                                    "think_min_effort"
    : {"enum" : [ "low", "medium", "high", "max" ]},
      "stall" : {
          "type" : "object",
          "properties" : {
              "window" : {"type" : "integer", "minimum" : 1},
              "failures" : {"type" : "integer", "minimum" : 1}
          },
          "additionalProperties" : false
      },
                "scenes" : {
                    "type" : "object",
                    "properties" : {
                        "model" : {"type" : "string", "minLength" : 1},
                        "max_request_chars" : {"type" : "integer", "minimum" : 1},
                        "timeout_ms" : {"type" : "integer", "minimum" : 1, "maximum" : 600000},
                        "list" : {
                            "type" : "array",
                            "items" : {
                                "type" : "object",
                                "properties" : {
                                    "name" : {"type" : "string", "minLength" : 1},
                                    "description" : {"type" : "string"},
                                    "models" : {"$ref" : "#/definitions/models"}
                                },
                                "required" : [ "name", "models" ],
                                "additionalProperties" : false
                            }
                        }
                    },
                    "additionalProperties" : false
                },
                           "honour_agent_tag" : {"type" : "boolean"},
                                                "session_ttl_seconds" : {
    "type" : "integer", "minimum" : 0
}
}
, "additionalProperties" : false
})schema";

}  // namespace tianshu::scenario_router
