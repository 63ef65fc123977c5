// JNI functions of dev.llamaspec.SettingTable: the engine's tables of named settings (sd_model_settings,
// sd_session_settings, sd_generation_settings, sd_train_settings, sd_early_exit_settings) for the Java
// side, which takes its defaults and ranges from them, and the engine's check and message for a value.
#include "jni-util.h"

#include <cstring>

namespace {

// The table of a name ("model", "session", "generation", "train", "early_exit"); NULL with
// IllegalArgumentException pending for other names.
const std::vector<sd_setting> * table_of(JNIEnv * env, jstring table, std::string & name) {
    if (!jni_utf8(env, table, "table is null", name)) return nullptr;
    if (name == "model") return &sd_model_settings();
    if (name == "session") return &sd_session_settings();
    if (name == "generation") return &sd_generation_settings();
    if (name == "train") return &sd_train_settings();
    if (name == "early_exit") return &sd_early_exit_settings();
    jni_throw_illegal_argument(env, "unknown settings table '" + name + "' (model, session, generation, train, early_exit)");
    return nullptr;
}

const char * type_name(sd_setting_type type) {
    switch (type) {
        case SD_SETTING_INT:   return "int";
        case SD_SETTING_FLOAT: return "float";
        case SD_SETTING_BOOL:  return "bool";
    }
    return "unknown";
}

} // namespace

// The settings of one table, as dev.llamaspec.Setting objects in the table's order.
extern "C" JNIEXPORT jobjectArray JNICALL Java_dev_llamaspec_SettingTable_nTable(JNIEnv * env, jclass, jstring table) {
    return jni_guard(env, (jobjectArray) nullptr, [&]() -> jobjectArray {
        std::string name;
        const std::vector<sd_setting> * settings = table_of(env, table, name);
        if (settings == nullptr) return nullptr;
        jobjectArray out = env->NewObjectArray((jsize) settings->size(), g_jni.setting, nullptr);
        if (out == nullptr) return nullptr;
        for (size_t i = 0; i < settings->size(); i++) {
            const sd_setting & s = (*settings)[i];
            jstring setting_name = jni_string(env, s.name);
            jstring type = jni_string(env, type_name(s.type));
            if (setting_name == nullptr || type == nullptr) return nullptr;
            jobject setting = env->CallStaticObjectMethod(g_jni.setting, g_jni.setting_make, table, setting_name, type,
                                                          (jdouble) s.min, (jdouble) s.max, (jboolean) s.min_open,
                                                          (jboolean) s.max_open, (jboolean) s.zero_ok, (jdouble) s.def);
            env->DeleteLocalRef(setting_name);
            env->DeleteLocalRef(type);
            if (setting == nullptr || env->ExceptionCheck()) return nullptr;
            env->SetObjectArrayElement(out, (jsize) i, setting);
            env->DeleteLocalRef(setting);
        }
        return out;
    });
}

// Whether the engine allows value for setting `name` of `table` (sd_setting_allows): null when it does,
// else the engine's message for it (sd_setting_error) with the Java property's label. The message leaves
// out the "0 or" of settings where 0 stands for a default: the Java options document that meaning beside
// the option, and their messages keep naming the range as before ("contextSize must be in [8, ...]").
extern "C" JNIEXPORT jstring JNICALL Java_dev_llamaspec_SettingTable_nCheck(JNIEnv * env, jclass, jstring table,
                                                                           jstring name, jstring label,
                                                                           jdouble value) {
    return jni_guard(env, (jstring) nullptr, [&]() -> jstring {
        std::string table_name, setting_name, label_text;
        const std::vector<sd_setting> * settings = table_of(env, table, table_name);
        if (settings == nullptr || !jni_utf8(env, name, "name is null", setting_name) ||
            !jni_utf8(env, label, "label is null", label_text)) {
            return nullptr;
        }
        for (const sd_setting & s : *settings) {
            if (setting_name != s.name) continue;
            if (sd_setting_allows(s, value)) return nullptr;
            sd_setting shown = s;
            shown.zero_ok = false;
            return jni_string(env, sd_setting_error(shown, label_text, value));
        }
        jni_throw_illegal_argument(env, "unknown setting '" + setting_name + "' in the " + table_name + " table");
        return nullptr;
    });
}

// The engine's names of the speculation types (sd_spec_type_name), in the order of sd_spec_type.
extern "C" JNIEXPORT jobjectArray JNICALL Java_dev_llamaspec_SettingTable_nSpeculationTypes(JNIEnv * env, jclass) {
    return jni_guard(env, (jobjectArray) nullptr, [&]() -> jobjectArray {
        std::vector<std::string> names;
        for (int i = 0;; i++) {
            const char * name = sd_spec_type_name((sd_spec_type) i);
            sd_spec_type back;
            if (!sd_spec_type_from_name(name, &back) || (int) back != i) break;
            names.push_back(name);
        }
        return jni_string_array(env, names);
    });
}
