#include "core/lazy_json.hpp"

namespace tianshu::core {

LazyJson& LazyJson::operator=(Json value) {
    tree_ = std::move(value);
    text_.reset();
    return *this;
}

LazyJson LazyJson::from_text(std::string text) {
    LazyJson j;
    j.text_ = std::move(text);
    return j;
}

bool LazyJson::is_null() const {
    if (tree_) return tree_->is_null();
    return !text_ || *text_ == "null";
}

bool LazyJson::is_object() const {
    if (tree_) return tree_->is_object();
    return text_ && !text_->empty() && text_->front() == '{';
}

std::string_view LazyJson::text() const {
    if (!text_) {
        text_ = tree_ ? tree_->dump(-1, ' ', false, Json::error_handler_t::replace)
                      : std::string("null");
    }
    return *text_;
}

const LazyJson::Json& LazyJson::json() const {
    if (!tree_) {
        // The text came from a parser that accepted it; should it not parse after all, the
        // holder reads as null rather than throwing on the request path.
        tree_ = text_ ? Json::parse(*text_, nullptr, false) : Json();
        if (tree_->is_discarded()) *tree_ = nullptr;
    }
    return *tree_;
}

LazyJson::Json& LazyJson::mutable_json() {
    json();
    text_.reset();
    return *tree_;
}

}  // namespace tianshu::core
