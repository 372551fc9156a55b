#include "core/stream_event.hpp"

namespace tianshu::core {

StreamEvent StreamEvent::text_delta(int index, std::string text) {
    StreamEvent e;
    e.type = Type::content_block_delta;
    e.index = index;
    e.delta_kind = DeltaKind::text;
    e.text = std::move(text);
    return e;
}

std::string_view to_string(StreamEvent::Type type) {
    using T = StreamEvent::Type;
    switch (type) {
        case T::message_start:
            return "message_start";
        case T::content_block_start:
            return "content_block_start";
        case T::content_block_delta:
            return "content_block_delta";
        case T::content_block_stop:
            return "content_block_stop";
        case T::message_delta:
            return "message_delta";
        case T::message_stop:
            return "message_stop";
        case T::ping:
            return "ping";
        case T::error:
            return "error";
    }
    return "error";
}

Result<void> ResponseAssembler::add(const StreamEvent& e) {
    using T = StreamEvent::Type;
    switch (e.type) {
        case T::message_start:
            response_.id = e.message.id;
            response_.model = e.message.model;
            response_.usage = e.message.usage;
            break;
        case T::content_block_start:
            if (e.index < 0 || e.index > 4096)
                return Error::internal_error("content block index out of range");
            if (static_cast<size_t>(e.index) >= response_.content.size())
                response_.content.resize(static_cast<size_t>(e.index) + 1);
            response_.content[static_cast<size_t>(e.index)] = e.block;
            break;
        case T::content_block_delta: {
            if (e.index < 0 || static_cast<size_t>(e.index) >= response_.content.size())
                return Error::internal_error(
                    "content_block_delta for a block that was never started");
            auto& b = response_.content[static_cast<size_t>(e.index)];
            switch (e.delta_kind) {
                case StreamEvent::DeltaKind::text:
                case StreamEvent::DeltaKind::thinking:
                    b.text += e.text;
                    break;
                case StreamEvent::DeltaKind::signature:
                    b.signature += e.text;
                    break;
                case StreamEvent::DeltaKind::input_json: {
                    // Partial JSON is kept as text until the block stops.
                    b.text += e.text;
                    break;
                }
            }
            break;
        }
        case T::content_block_stop: {
            if (e.index < 0 || static_cast<size_t>(e.index) >= response_.content.size()) break;
            auto& b = response_.content[static_cast<size_t>(e.index)];
            if (b.type == ContentBlock::Type::tool_use && !b.text.empty()) {
                auto parsed = Json::parse(b.text, nullptr, false);
                if (parsed.is_discarded())
                    return Error{ErrorKind::upstream,
                                 "the model streamed tool arguments that are not valid JSON",
                                 {}};
                b.input = std::move(parsed);
                b.text.clear();
            }
            break;
        }
        case T::message_delta:
            if (e.stop_reason != StopReason::none) response_.stop_reason = e.stop_reason;
            response_.stop_sequence = e.stop_sequence;
            response_.usage.output_tokens = e.usage.output_tokens;
            if (e.usage.input_tokens) response_.usage.input_tokens = e.usage.input_tokens;
            response_.usage.reasoning_tokens = e.usage.reasoning_tokens;
            if (e.usage.cache_read_tokens)
                response_.usage.cache_read_tokens = e.usage.cache_read_tokens;
            if (e.usage.cache_write_tokens)
                response_.usage.cache_write_tokens = e.usage.cache_write_tokens;
            break;
        case T::message_stop:
            finished_ = true;
            break;
        case T::ping:
            break;
        case T::error:
            return e.error;
    }
    return {};
}

std::vector<StreamEvent> events_for(const Response& r) {
    std::vector<StreamEvent> out;
    StreamEvent start;
    start.type = StreamEvent::Type::message_start;
    start.message.id = r.id;
    start.message.model = r.model;
    start.message.usage.input_tokens = r.usage.input_tokens;
    out.push_back(std::move(start));
    for (size_t i = 0; i < r.content.size(); ++i) {
        const auto& b = r.content[i];
        StreamEvent s;
        s.type = StreamEvent::Type::content_block_start;
        s.index = static_cast<int>(i);
        s.block = b;
        s.block.text.clear();
        s.block.input = Json::object();
        s.block.signature.clear();
        out.push_back(s);
        StreamEvent d;
        d.type = StreamEvent::Type::content_block_delta;
        d.index = static_cast<int>(i);
        if (b.type == ContentBlock::Type::tool_use) {
            d.delta_kind = StreamEvent::DeltaKind::input_json;
            d.text = b.input.is_null() ? "{}" : b.input.dump();
            out.push_back(d);
        } else if (b.type == ContentBlock::Type::thinking) {
            d.delta_kind = StreamEvent::DeltaKind::thinking;
            d.text = b.text;
            out.push_back(d);
            if (!b.signature.empty()) {
                d.delta_kind = StreamEvent::DeltaKind::signature;
                d.text = b.signature;
                out.push_back(d);
            }
        } else if (b.type == ContentBlock::Type::text) {
            d.delta_kind = StreamEvent::DeltaKind::text;
            d.text = b.text;
            out.push_back(d);
        }
        StreamEvent stop;
        stop.type = StreamEvent::Type::content_block_stop;
        stop.index = static_cast<int>(i);
        out.push_back(stop);
    }
    StreamEvent md;
    md.type = StreamEvent::Type::message_delta;
    md.stop_reason = r.stop_reason;
    md.stop_sequence = r.stop_sequence;
    md.usage = r.usage;
    out.push_back(md);
    StreamEvent ms;
    ms.type = StreamEvent::Type::message_stop;
    out.push_back(ms);
    return out;
}

}  // namespace tianshu::core
